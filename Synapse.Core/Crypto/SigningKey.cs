using System.Globalization;
using System.Security.Cryptography;
using NSec.Cryptography;

namespace Synapse.Crypto;

/// <summary>
/// An ed25519 server signing key: signs federation requests, events and key responses. Holds the private key
/// in libsodium-managed memory, so dispose it when the server stops using it.
/// </summary>
/// <remarks>
/// The key file is Synapse's format (see <see cref="Configuration.SigningKeyFile"/>): one key per line,
/// <c>ed25519 &lt;version&gt; &lt;unpadded base64 32-byte seed&gt;</c>; the first line is the key in use.
/// Spec: Appendices, "Signing Details" (the key ID is algorithm ":" version).
/// </remarks>
public sealed class SigningKey : IDisposable
{
    /// <summary>The only signing algorithm Matrix defines.</summary>
    public const string Ed25519 = "ed25519";

    private static readonly SignatureAlgorithm Algorithm = SignatureAlgorithm.Ed25519;

    private readonly Key key;
    private readonly byte[] publicKey;

    private SigningKey(string version, Key key)
    {
        this.key = key;
        Version = version;
        KeyId = Ed25519 + ":" + version;
        publicKey = key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        PublicKey = UnpaddedBase64.Encode(publicKey);
    }

    /// <summary>The key ID, e.g. <c>ed25519:a_AbCd</c>.</summary>
    public string KeyId { get; }

    /// <summary>The version part of the key ID, e.g. <c>a_AbCd</c>.</summary>
    public string Version { get; }

    /// <summary>The 32-byte public key in unpadded base64, as published in <c>verify_keys</c>.</summary>
    public string PublicKey { get; }

    /// <summary>The 32-byte public key.</summary>
    public ReadOnlySpan<byte> PublicKeyBytes => publicKey;

    /// <summary>Makes a key from its 32-byte seed (the private key as Synapse's key file stores it).</summary>
    /// <param name="version">The key version, characters <c>[a-zA-Z0-9_]</c>; the key ID is <c>ed25519:</c> + version.</param>
    /// <param name="seed">The 32-byte ed25519 seed.</param>
    /// <exception cref="ArgumentException">The version or the seed is malformed.</exception>
    public static SigningKey FromSeed(string version, ReadOnlySpan<byte> seed)
    {
        if (!IsValidVersion(version))
        {
            throw new ArgumentException("A key version must be one or more of [a-zA-Z0-9_].", nameof(version));
        }

        if (seed.Length != Algorithm.PrivateKeySize)
        {
            throw new ArgumentException($"An ed25519 seed is {Algorithm.PrivateKeySize} bytes, not {seed.Length}.", nameof(seed));
        }

        return new SigningKey(version, Key.Import(Algorithm, seed, KeyBlobFormat.RawPrivateKey));
    }

    /// <summary>Reads the key in use: the first line of a Synapse signing key file.</summary>
    /// <exception cref="FormatException">A line of the file is malformed (the message names the line).</exception>
    public static SigningKey Load(string path)
    {
        var keys = LoadAll(path);
        for (int i = 1; i < keys.Count; i++)
        {
            keys[i].Dispose();
        }

        return keys[0];
    }

    /// <summary>Reads every key of a Synapse signing key file, the key in use first.</summary>
    /// <exception cref="FormatException">A line of the file is malformed, or the file has no key.</exception>
    public static IReadOnlyList<SigningKey> LoadAll(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>
    /// Signs <paramref name="data"/>; returns the 64-byte ed25519 signature. Thread-safe.
    /// </summary>
    public byte[] Sign(ReadOnlySpan<byte> data) => Algorithm.Sign(key, data);

    /// <summary>
    /// Checks an ed25519 signature. False (never an exception) for a malformed key or signature.
    /// </summary>
    /// <param name="publicKey">The 32-byte public key.</param>
    /// <param name="data">The signed bytes.</param>
    /// <param name="signature">The 64-byte signature.</param>
    public static bool Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (publicKey.Length != Algorithm.PublicKeySize || signature.Length != Algorithm.SignatureSize
            || !NSec.Cryptography.PublicKey.TryImport(Algorithm, publicKey, KeyBlobFormat.RawPublicKey, out var imported)
            || imported is null)
        {
            return false;
        }

        return Algorithm.Verify(imported, data, signature);
    }

    /// <inheritdoc />
    public void Dispose() => key.Dispose();

    /// <inheritdoc />
    public override string ToString() => KeyId;

    /// <summary>Parses the text of a key file; <paramref name="source"/> names it in errors.</summary>
    internal static List<SigningKey> Parse(string text, string source)
    {
        var keys = new List<SigningKey>();
        try
        {
            int lineNumber = 0;
            foreach (var rawLine in text.Split('\n'))
            {
                lineNumber++;
                string line = rawLine.Trim();
                if (line.Length == 0)
                {
                    continue;
                }

                keys.Add(ParseLine(line, source, lineNumber));
            }
        }
        catch
        {
            keys.ForEach(k => k.Dispose());
            throw;
        }

        return keys.Count > 0 ? keys : throw new FormatException($"{source}: the signing key file has no key.");
    }

    private static SigningKey ParseLine(string line, string source, int lineNumber)
    {
        string[] parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        string where = string.Create(CultureInfo.InvariantCulture, $"{source}, line {lineNumber}");
        if (parts.Length != 3)
        {
            throw new FormatException($"{where}: expected 'ed25519 <key version> <base64 seed>', found {parts.Length} fields.");
        }

        if (parts[0] != Ed25519)
        {
            throw new FormatException($"{where}: unsupported key algorithm '{parts[0]}'; only ed25519 is known.");
        }

        if (!IsValidVersion(parts[1]))
        {
            throw new FormatException($"{where}: key version '{parts[1]}' must be one or more of [a-zA-Z0-9_].");
        }

        if (!UnpaddedBase64.TryDecode(parts[2], out byte[]? seed) || seed.Length != Algorithm.PrivateKeySize)
        {
            throw new FormatException($"{where}: the key must be a 32-byte seed in unpadded base64.");
        }

        try
        {
            return FromSeed(parts[1], seed);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    // Spec: Server-Server API, "Publishing Keys": the version must match [a-zA-Z0-9_].
    private static bool IsValidVersion(string? version)
    {
        if (string.IsNullOrEmpty(version))
        {
            return false;
        }

        foreach (char c in version)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '_')
            {
                return false;
            }
        }

        return true;
    }
}

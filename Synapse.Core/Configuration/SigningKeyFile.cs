using System.Security.Cryptography;

namespace Synapse.Configuration;

/// <summary>
/// The server's signing key file in Synapse's format: one line <c>ed25519 &lt;key id&gt; &lt;seed&gt;</c>, where the key
/// id is <c>a_</c> plus four alphanumerics and the seed is the 32-byte ed25519 seed in unpadded base64.
/// </summary>
public static class SigningKeyFile
{
    private const string KeyIdAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    /// <summary>
    /// Writes a new random signing key to <paramref name="path"/> (readable by the owner only on Unix), creating
    /// its directory, unless the file already exists: a server's key must not change under it.
    /// </summary>
    /// <param name="path">Where to write the key.</param>
    /// <returns>True when a key was written; false when the file already existed and was left alone.</returns>
    public static bool Generate(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string fullPath = Path.GetFullPath(path);
        if (File.Exists(fullPath))
        {
            return false;
        }

        if (Path.GetDirectoryName(fullPath) is { Length: > 0 } directory)
        {
            Directory.CreateDirectory(directory);
        }

        byte[] seed = RandomNumberGenerator.GetBytes(32);
        string keyId = "a_" + RandomNumberGenerator.GetString(KeyIdAlphabet, 4);
        string line = "ed25519 " + keyId + " " + Convert.ToBase64String(seed).TrimEnd('=') + "\n";
        CryptographicOperations.ZeroMemory(seed);

        try
        {
            WriteNewPrivateFile(fullPath, line);
        }
        catch (IOException) when (File.Exists(fullPath))
        {
            // Someone else created it between the check and the write; theirs stands.
            return false;
        }

        return true;
    }

    /// <summary>
    /// Creates <paramref name="path"/> (failing if it exists) with mode 0600 on Unix, set at creation so the secret
    /// is never readable by others, not even briefly.
    /// </summary>
    internal static void WriteNewPrivateFile(string path, string contents)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var writer = new StreamWriter(path, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false), options);
        writer.Write(contents);
    }
}

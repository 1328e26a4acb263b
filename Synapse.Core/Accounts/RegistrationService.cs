using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Synapse.Configuration;
using Synapse.Identifiers;
using Synapse.Storage;

namespace Synapse.Accounts;

/// <summary>Creates accounts: open registration with UIA, guests, and Synapse's shared-secret admin registration.</summary>
internal sealed class RegistrationService
{
    private const int MaxPasswordLength = 512;
    private static readonly TimeSpan NonceLifetime = TimeSpan.FromSeconds(60);
    private static readonly IReadOnlyList<IReadOnlyList<string>> RegistrationFlows = [[UserInteractiveAuthService.Dummy]];

    private readonly HomeserverOptions _options;
    private readonly IAccountStore _store;
    private readonly IAccountWriter _writer;
    private readonly UserInteractiveAuthService _uia;
    private readonly SessionService _sessions;
    private readonly PasswordHasher _hasher;
    private readonly RateLimiter _registrationLimiter;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, long> _nonces = new(StringComparer.Ordinal);

    public RegistrationService(HomeserverOptions options, IAccountStore store, IAccountWriter writer,
        UserInteractiveAuthService uia, SessionService sessions, PasswordHasher hasher, TimeProvider time)
    {
        _writer = writer;
        _options = options;
        _store = store;
        _uia = uia;
        _sessions = sessions;
        _hasher = hasher;
        _time = time;
        _registrationLimiter = new RateLimiter(options.RcRegistration, time);
    }

    /// <summary>POST /register for a user (after UIA) or a guest.</summary>
    public async Task<RegisterResult> RegisterAsync(RegisterCommand command, CancellationToken cancellationToken)
    {
        if (command.IsGuest)
        {
            if (!_options.AllowGuestAccess)
            {
                throw new MatrixException(HttpStatusCode.Forbidden, ErrorCodes.GuestAccessForbidden, "Guest access is disabled");
            }
        }
        else if (!_options.EnableRegistration)
        {
            throw MatrixException.Forbidden("Registration has been disabled");
        }

        _registrationLimiter.Acquire(command.ClientAddress ?? "");
        if (command.Password is not null)
        {
            CheckPassword(command.Password);
        }

        UserId? desired = null;
        if (command.Username is not null && !command.IsGuest)
        {
            desired = await CheckUsernameAsync(command.Username, cancellationToken).ConfigureAwait(false);
        }

        if (!command.IsGuest)
        {
            await _uia.AuthenticateAsync(command.Auth, "POST", "/register", null, RegistrationFlows, cancellationToken)
                .ConfigureAwait(false);
        }

        string? hash = command.Password is null || command.IsGuest
            ? null
            : await _hasher.HashAsync(command.Password).ConfigureAwait(false);
        UserId userId = await CreateUserAsync(desired, hash, isAdmin: false, command.IsGuest, userType: null,
            displayName: null, cancellationToken).ConfigureAwait(false);

        if (command.InhibitLogin)
        {
            return new RegisterResult(userId, null, null);
        }

        var session = await _sessions.CreateSessionAsync(userId, command.DeviceId, command.InitialDeviceDisplayName,
            cancellationToken).ConfigureAwait(false);
        return new RegisterResult(userId, session.AccessToken, session.DeviceId);
    }

    /// <summary>GET /register/available: true, or the reason the name cannot be had.</summary>
    public async Task CheckAvailableAsync(string username, string? clientAddress, CancellationToken cancellationToken)
    {
        if (!_options.EnableRegistration)
        {
            throw MatrixException.Forbidden("Registration has been disabled");
        }

        _registrationLimiter.Acquire(clientAddress ?? "");
        await CheckUsernameAsync(username, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>GET /_synapse/admin/v1/register: a single-use nonce, valid for a minute.</summary>
    public string CreateSharedSecretNonce()
    {
        EnsureSharedSecret();
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var (old, created) in _nonces)
        {
            if (now - created > NonceLifetime.TotalMilliseconds)
            {
                _nonces.TryRemove(old, out _);
            }
        }

        string nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        _nonces[nonce] = now;
        return nonce;
    }

    /// <summary>
    /// POST /_synapse/admin/v1/register: checks the HMAC-SHA1 that Synapse's
    /// <c>register_new_matrix_user</c> sends, over <c>nonce\0user\0password\0admin|notadmin[\0user_type]</c>.
    /// </summary>
    public async Task<RegisterResult> RegisterWithSharedSecretAsync(SharedSecretRegisterCommand command,
        CancellationToken cancellationToken)
    {
        string secret = EnsureSharedSecret();
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        if (!_nonces.TryRemove(command.Nonce, out long created) || now - created > NonceLifetime.TotalMilliseconds)
        {
            throw new MatrixException(HttpStatusCode.BadRequest, ErrorCodes.Unknown, "unrecognised nonce");
        }

        if (command.Username.Contains('\0', StringComparison.Ordinal) || command.Password.Contains('\0', StringComparison.Ordinal))
        {
            throw MatrixException.InvalidParam("Invalid username or password");
        }

        var message = new StringBuilder()
            .Append(command.Nonce).Append('\0')
            .Append(command.Username).Append('\0')
            .Append(command.Password).Append('\0')
            .Append(command.Admin ? "admin" : "notadmin");
        if (command.UserType is not null)
        {
            message.Append('\0').Append(command.UserType);
        }

        // SHA-1 is what Synapse's protocol fixes; as an HMAC with a secret key it is still unforgeable.
#pragma warning disable CA5350
        byte[] expected = HMACSHA1.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(message.ToString()));
#pragma warning restore CA5350
        byte[] given;
        try
        {
            given = Convert.FromHexString(command.Mac);
        }
        catch (FormatException)
        {
            given = [];
        }

        if (!CryptographicOperations.FixedTimeEquals(expected, given))
        {
            throw MatrixException.Forbidden("HMAC incorrect");
        }

        CheckPassword(command.Password);
        UserId userId = await CheckUsernameAsync(command.Username, cancellationToken).ConfigureAwait(false);
        string hash = await _hasher.HashAsync(command.Password).ConfigureAwait(false);
        await CreateUserAsync(userId, hash, command.Admin, isGuest: false, command.UserType, command.DisplayName,
            cancellationToken).ConfigureAwait(false);
        var session = await _sessions.CreateSessionAsync(userId, null, null, cancellationToken).ConfigureAwait(false);
        return new RegisterResult(userId, session.AccessToken, session.DeviceId);
    }

    /// <summary>
    /// The spec's rules for a new localpart, plus Synapse's: lower-cased, no leading underscore
    /// (reserved for application services), all-digit names reserved for guests.
    /// </summary>
    private async Task<UserId> CheckUsernameAsync(string username, CancellationToken cancellationToken)
    {
        string localpart = username.ToLowerInvariant();
        if (!UserId.IsValidNewLocalpart(localpart))
        {
            throw InvalidUsername("User ID can only contain characters a-z, 0-9, or '=_-./+'");
        }

        if (localpart[0] == '_')
        {
            throw InvalidUsername("User ID may not begin with _");
        }

        if (localpart.All(char.IsAsciiDigit))
        {
            throw InvalidUsername("Numeric user IDs are reserved for guest users");
        }

        if (!UserId.TryParse(string.Concat("@", localpart, ":", _options.ServerName), out var userId))
        {
            throw InvalidUsername($"User ID may not be longer than {UserId.MaxLength} characters");
        }

        if (await _store.FindUserIdIgnoringCaseAsync(userId, cancellationToken).ConfigureAwait(false) is not null)
        {
            throw new MatrixException(HttpStatusCode.BadRequest, ErrorCodes.UserInUse, "User ID already taken.");
        }

        return userId;
    }

    private async Task<UserId> CreateUserAsync(UserId? desired, string? passwordHash, bool isAdmin, bool isGuest,
        string? userType, string? displayName, CancellationToken cancellationToken)
    {
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        if (desired is { } chosen)
        {
            var user = new NewUser(chosen, passwordHash, isAdmin, isGuest, userType, displayName ?? chosen.Localpart, now);
            if (!await _writer.CreateUserAsync(user, cancellationToken).ConfigureAwait(false))
            {
                throw new MatrixException(HttpStatusCode.BadRequest, ErrorCodes.UserInUse, "User ID already taken.");
            }

            return chosen;
        }

        // No name asked for (and every guest): a numeric localpart, which CheckUsernameAsync keeps free.
        for (int attempt = 0; ; attempt++)
        {
            string localpart = RandomNumberGenerator.GetInt32(100_000_000, int.MaxValue).ToString(CultureInfo.InvariantCulture);
            var userId = UserId.Create(localpart, _options.ServerName);
            var user = new NewUser(userId, passwordHash, isAdmin, isGuest, userType, displayName ?? localpart, now);
            if (await _writer.CreateUserAsync(user, cancellationToken).ConfigureAwait(false))
            {
                return userId;
            }

            if (attempt > 10)
            {
                throw new InvalidOperationException("Could not find a free numeric user ID.");
            }
        }
    }

    private static void CheckPassword(string password)
    {
        if (password.Length > MaxPasswordLength)
        {
            throw MatrixException.InvalidParam($"Password must be at most {MaxPasswordLength} characters");
        }
    }

    private string EnsureSharedSecret() =>
        _options.RegistrationSharedSecret
        ?? throw new MatrixException(HttpStatusCode.BadRequest, ErrorCodes.Unknown, "Shared secret registration is not enabled");

    private static MatrixException InvalidUsername(string message) =>
        new(HttpStatusCode.BadRequest, ErrorCodes.InvalidUsername, message);
}

/// <summary>A POST /register request, parsed.</summary>
internal sealed record RegisterCommand(string? Username, string? Password, DeviceId? DeviceId,
    string? InitialDeviceDisplayName, bool InhibitLogin, bool IsGuest, JsonElement? Auth, string? ClientAddress);

/// <summary>A shared-secret registration request, parsed.</summary>
internal sealed record SharedSecretRegisterCommand(string Nonce, string Username, string Password, bool Admin,
    string? UserType, string? DisplayName, string Mac);

/// <summary>The new user and, unless login was inhibited, its first session.</summary>
internal sealed record RegisterResult(UserId UserId, string? AccessToken, DeviceId? DeviceId);

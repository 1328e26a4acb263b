using System.Net;
using System.Text.Json;
using Synapse.Configuration;
using Synapse.Identifiers;
using Synapse.Json;
using Synapse.Storage;
using Synapse.Sync;

namespace Synapse.Accounts;

/// <summary>Logins, access tokens and logouts.</summary>
internal sealed class SessionService
{
    private readonly HomeserverOptions _options;
    private readonly IAccountStore _store;
    private readonly PasswordHasher _hasher;
    private readonly AuthenticationService _authentication;
    private readonly DeviceListService _deviceLists;
    private readonly IAccountWriter _writer;
    private readonly RateLimiter _byAddress;
    private readonly RateLimiter _byAccount;
    private readonly RateLimiter _failures;

    public SessionService(HomeserverOptions options, IAccountStore store, PasswordHasher hasher,
        AuthenticationService authentication, DeviceListService deviceLists, IAccountWriter writer, TimeProvider time)
    {
        _writer = writer;
        _options = options;
        _store = store;
        _hasher = hasher;
        _authentication = authentication;
        _deviceLists = deviceLists;
        _byAddress = new RateLimiter(options.RcLogin.Address, time);
        _byAccount = new RateLimiter(options.RcLogin.Account, time);
        _failures = new RateLimiter(options.RcLogin.FailedAttempts, time);
    }

    /// <summary>GET /login: the login types we accept.</summary>
    public IReadOnlyList<string> LoginTypes =>
        _options.Password is { Enabled: true, LocalDbEnabled: true } ? ["m.login.password"] : [];

    /// <summary>POST /login.</summary>
    public async Task<LoginResult> LoginAsync(JsonElement body, string? clientAddress, CancellationToken cancellationToken)
    {
        _byAddress.Acquire(clientAddress ?? "");
        string type = body.RequiredString("type");
        if (type != "m.login.password" || !LoginTypes.Contains(type))
        {
            throw new MatrixException(HttpStatusCode.BadRequest, ErrorCodes.Unknown, $"Unknown login type {type}");
        }

        string user = LoginIdentifier.ReadUser(body) ?? throw MatrixException.MissingParam("identifier");
        string password = body.RequiredString("password");
        DeviceId? deviceId = ReadOptionalDeviceId(body);
        string? displayName = body.OptionalString("initial_device_display_name");

        var named = LoginIdentifier.ToUserId(user, _options.ServerName);
        string accountKey = named?.Value.ToLowerInvariant() ?? user;
        _failures.EnsureAvailable(accountKey);

        UserId? found = named is { } n && n.ServerName == _options.ServerName
            ? await _store.FindUserIdIgnoringCaseAsync(n, cancellationToken).ConfigureAwait(false)
            : null;
        var account = found is { } f ? await _store.GetUserAsync(f, cancellationToken).ConfigureAwait(false) : null;
        if (account is { IsDeactivated: true })
        {
            throw new MatrixException(HttpStatusCode.Forbidden, ErrorCodes.UserDeactivated, "This account has been deactivated");
        }

        if (account is null || !await _hasher.VerifyAsync(password, account.PasswordHash).ConfigureAwait(false))
        {
            _failures.Acquire(accountKey);
            throw MatrixException.Forbidden("Invalid username or password");
        }

        _byAccount.Acquire(accountKey);
        var session = await CreateSessionAsync(account.UserId, deviceId, displayName, cancellationToken).ConfigureAwait(false);
        return session;
    }

    /// <summary>
    /// Creates (or reuses) a device and a new access token for it (through <see cref="IAccountWriter"/>: on a worker, main
    /// writes them). The token is made here and only its hash travels.
    /// </summary>
    public async Task<LoginResult> CreateSessionAsync(UserId userId, DeviceId? deviceId, string? displayName,
        CancellationToken cancellationToken)
    {
        var device = deviceId ?? DeviceId.NewRandom();
        string token = AccessTokens.Generate(userId);
        await _writer.AddSessionAsync(userId, device, displayName, AccessTokens.Hash(token), cancellationToken).ConfigureAwait(false);
        return new LoginResult(userId, token, device);
    }

    /// <summary>POST /logout: the token and its device go.</summary>
    public async Task LogoutAsync(Requester requester, CancellationToken cancellationToken)
    {
        var removed = await _deviceLists.WriteAsync(requester.UserId,
            position => _store.DeleteDevicesAsync(requester.UserId, [requester.DeviceId], position, cancellationToken),
            r => r.DeviceIds, cancellationToken).ConfigureAwait(false);
        await _authentication.InvalidateAsync(removed.TokenHashes).ConfigureAwait(false);
    }

    /// <summary>POST /logout/all: every token and device of the user go.</summary>
    public async Task LogoutAllAsync(Requester requester, CancellationToken cancellationToken)
    {
        var removed = await _deviceLists.WriteAsync(requester.UserId,
            position => _store.DeleteOtherDevicesAndTokensAsync(requester.UserId, null, null, position, cancellationToken),
            r => r.DeviceIds, cancellationToken).ConfigureAwait(false);
        await _authentication.InvalidateAsync(removed.TokenHashes).ConfigureAwait(false);
    }

    internal static DeviceId? ReadOptionalDeviceId(JsonElement body)
    {
        string? value = body.OptionalString("device_id");
        if (value is null)
        {
            return null;
        }

        return DeviceId.TryParse(value, out var id) ? id : throw MatrixException.InvalidParam("Invalid device_id");
    }
}

/// <summary>A new session: who, which token, which device.</summary>
internal sealed record LoginResult(UserId UserId, string AccessToken, DeviceId DeviceId);

using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Synapse.Storage;

namespace Synapse.Accounts;

/// <summary>
/// User-interactive authentication: the 401 challenge with flows and a session, stages completed one
/// request at a time, and the protected request allowed once every stage of one flow is done.
/// </summary>
/// <remarks>Spec: Client-Server API, "User-Interactive Authentication API".</remarks>
internal sealed class UserInteractiveAuthService
{
    public const string Dummy = "m.login.dummy";
    public const string Password = "m.login.password";

    private static readonly TimeSpan SessionLifetime = TimeSpan.FromDays(1);

    private readonly IUserInteractiveAuthStore _store;
    private readonly IAccountStore _accounts;
    private readonly PasswordHasher _hasher;
    private readonly TimeProvider _time;

    public UserInteractiveAuthService(IUserInteractiveAuthStore store, IAccountStore accounts, PasswordHasher hasher,
        TimeProvider time)
    {
        _store = store;
        _accounts = accounts;
        _hasher = hasher;
        _time = time;
    }

    /// <summary>
    /// Returns when <paramref name="auth"/> completes one of <paramref name="flows"/>; otherwise throws
    /// the 401 challenge (or another error) as a <see cref="MatrixException"/>.
    /// </summary>
    /// <param name="auth">The request's <c>auth</c> object, if any.</param>
    /// <param name="method">HTTP method of the protected request; a session cannot be reused for another.</param>
    /// <param name="uri">Path of the protected request.</param>
    /// <param name="requester">The authenticated user, for operations on an existing account.</param>
    /// <param name="flows">The acceptable flows, each a list of stages.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    public async Task AuthenticateAsync(JsonElement? auth, string method, string uri, Requester? requester,
        IReadOnlyList<IReadOnlyList<string>> flows, CancellationToken cancellationToken)
    {
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        if (auth is not { ValueKind: JsonValueKind.Object } authObject)
        {
            if (auth is { ValueKind: not JsonValueKind.Null and not JsonValueKind.Undefined })
            {
                throw MatrixException.BadJson("'auth' must be an object");
            }

            var fresh = await NewSessionAsync(method, uri, requester, now, cancellationToken).ConfigureAwait(false);
            throw Challenge(flows, fresh.SessionId, [], null, null);
        }

        UiaSession session;
        if (authObject.TryGetProperty("session", out var sessionElement) && sessionElement.ValueKind != JsonValueKind.Null)
        {
            if (sessionElement.ValueKind != JsonValueKind.String)
            {
                throw MatrixException.BadJson("'auth.session' must be a string");
            }

            session = await _store.GetSessionAsync(sessionElement.GetString()!, now - (long)SessionLifetime.TotalMilliseconds,
                cancellationToken).ConfigureAwait(false)
                ?? throw new MatrixException(HttpStatusCode.BadRequest, ErrorCodes.Unknown, "Unknown session ID");
            if (session.Method != method || session.Uri != uri || session.UserId != requester?.UserId.Value)
            {
                throw MatrixException.Forbidden("Requested operation has changed during the UI authentication session.");
            }
        }
        else
        {
            session = await NewSessionAsync(method, uri, requester, now, cancellationToken).ConfigureAwait(false);
        }

        var completed = session.CompletedStages.ToList();
        if (authObject.TryGetProperty("type", out var typeElement) && typeElement.ValueKind != JsonValueKind.Null)
        {
            if (typeElement.ValueKind != JsonValueKind.String)
            {
                throw MatrixException.BadJson("'auth.type' must be a string");
            }

            string stage = typeElement.GetString()!;
            if (!flows.Any(f => f.Contains(stage)))
            {
                throw new MatrixException(HttpStatusCode.BadRequest, ErrorCodes.Unrecognized,
                    $"Authentication stage {stage} is not offered for this request");
            }

            string? failure = await RunStageAsync(stage, authObject, requester, cancellationToken).ConfigureAwait(false);
            if (failure is not null)
            {
                throw Challenge(flows, session.SessionId, completed, ErrorCodes.Forbidden, failure);
            }

            await _store.AddCompletedStageAsync(session.SessionId, stage, cancellationToken).ConfigureAwait(false);
            completed.Add(stage);
        }

        if (flows.Any(flow => flow.All(completed.Contains)))
        {
            await _store.DeleteSessionAsync(session.SessionId, cancellationToken).ConfigureAwait(false);
            return;
        }

        throw Challenge(flows, session.SessionId, completed, null, null);
    }

    /// <summary>Deletes sessions nobody finished.</summary>
    public Task DeleteExpiredSessionsAsync(CancellationToken cancellationToken) =>
        _store.DeleteExpiredSessionsAsync(
            _time.GetUtcNow().ToUnixTimeMilliseconds() - (long)SessionLifetime.TotalMilliseconds, cancellationToken);

    private async Task<string?> RunStageAsync(string stage, JsonElement auth, Requester? requester,
        CancellationToken cancellationToken)
    {
        switch (stage)
        {
            case Dummy:
                return null;
            case Password:
                if (requester is null)
                {
                    return "Password authentication needs an existing account";
                }

                string? user = LoginIdentifier.ReadUser(auth);
                if (user is not null && LoginIdentifier.ToUserId(user, requester.UserId.ServerName) != requester.UserId)
                {
                    return "Authenticated user does not match the account of the request";
                }

                if (!auth.TryGetProperty("password", out var password) || password.ValueKind != JsonValueKind.String)
                {
                    throw MatrixException.MissingParam("auth.password");
                }

                var account = await _accounts.GetUserAsync(requester.UserId, cancellationToken).ConfigureAwait(false);
                bool ok = await _hasher.VerifyAsync(password.GetString()!, account?.PasswordHash).ConfigureAwait(false);
                return ok ? null : "Invalid password";
            default:
                throw new MatrixException(HttpStatusCode.BadRequest, ErrorCodes.Unrecognized,
                    $"Authentication stage {stage} is not supported");
        }
    }

    private async Task<UiaSession> NewSessionAsync(string method, string uri, Requester? requester, long now,
        CancellationToken cancellationToken)
    {
        var session = new UiaSession(RandomNumberGenerator.GetString(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 24), method, uri, requester?.UserId.Value, now, []);
        await _store.CreateSessionAsync(session, cancellationToken).ConfigureAwait(false);
        return session;
    }

    private static MatrixException Challenge(IReadOnlyList<IReadOnlyList<string>> flows, string session,
        List<string> completed, string? errorCode, string? error)
    {
        var body = new Dictionary<string, object?>
        {
            ["flows"] = flows.Select(f => new Dictionary<string, object?> { ["stages"] = f }).ToList(),
            ["params"] = new Dictionary<string, object?>(),
            ["session"] = session,
        };
        if (completed.Count > 0)
        {
            body["completed"] = completed;
        }

        return new MatrixException(HttpStatusCode.Unauthorized, errorCode ?? "", error ?? "", body);
    }
}

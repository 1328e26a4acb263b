using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Synapse.Accounts;
using Synapse.Json;
using Synapse.Storage;

namespace Synapse.E2e;

/// <summary>
/// Server-side key backups (Spec: Client-Server API, "Server-side key backups"): the backup versions of the requester and
/// the encrypted megolm session keys stored in them. Backups are private to their owner; every operation acts on the
/// requester's own backups. The server never looks inside <c>auth_data</c> or <c>session_data</c>.
/// </summary>
internal sealed class KeyBackupService
{
    private const int MaxIdBytes = 255;

    private readonly IKeyBackupStore _store;

    public KeyBackupService(IKeyBackupStore store) => _store = store;

    /// <summary>POST /room_keys/version: creates a version and returns its number as a string.</summary>
    public async Task<string> CreateVersionAsync(Requester requester, JsonElement body, CancellationToken cancellationToken)
    {
        string algorithm = RequireAlgorithm(body);
        string authData = RequiredObject(body, "auth_data").GetRawText();
        long version = await _store.CreateVersionAsync(requester.UserId, algorithm, authData, cancellationToken).ConfigureAwait(false);
        return Format(version);
    }

    /// <summary>GET /room_keys/version and GET /room_keys/version/{version}: <paramref name="version"/> null for the newest.</summary>
    public async Task<KeyBackupVersion> GetVersionAsync(Requester requester, string? version, CancellationToken cancellationToken)
    {
        if (version is null)
        {
            return await _store.GetVersionAsync(requester.UserId, null, cancellationToken).ConfigureAwait(false)
                ?? throw MatrixException.NotFound("No current backup version");
        }

        return await _store.GetVersionAsync(requester.UserId, ParseVersion(version), cancellationToken).ConfigureAwait(false)
            ?? throw UnknownVersion();
    }

    /// <summary>PUT /room_keys/version/{version}: replaces <c>auth_data</c>; the algorithm and the version cannot change.</summary>
    public async Task UpdateVersionAsync(Requester requester, string version, JsonElement body, CancellationToken cancellationToken)
    {
        string algorithm = RequireAlgorithm(body);
        string authData = RequiredObject(body, "auth_data").GetRawText();
        if (body.OptionalString("version") is { } bodyVersion && bodyVersion != version)
        {
            throw MatrixException.InvalidParam("The version in the body does not match the version in the path");
        }

        long number = ParseVersion(version);
        var existing = await _store.GetVersionAsync(requester.UserId, number, cancellationToken).ConfigureAwait(false)
            ?? throw UnknownVersion();
        if (existing.Algorithm != algorithm)
        {
            throw MatrixException.InvalidParam("Algorithm does not match");
        }

        if (!await _store.UpdateVersionAsync(requester.UserId, number, authData, cancellationToken).ConfigureAwait(false))
        {
            throw UnknownVersion();
        }
    }

    /// <summary>DELETE /room_keys/version/{version}: deletes the version and its keys; deleting it again succeeds.</summary>
    public async Task DeleteVersionAsync(Requester requester, string version, CancellationToken cancellationToken)
    {
        // Spec: "If the backup was previously deleted, the call should succeed rather than returning an error."
        if (!await _store.DeleteVersionAsync(requester.UserId, ParseVersion(version), cancellationToken).ConfigureAwait(false))
        {
            throw UnknownVersion();
        }
    }

    /// <summary>
    /// PUT /room_keys/keys, /room_keys/keys/{roomId} and /room_keys/keys/{roomId}/{sessionId}: the body is
    /// <c>{"rooms": {roomId: {"sessions": {...}}}}</c>, <c>{"sessions": {...}}</c> or one session's key data.
    /// </summary>
    public async Task<KeyBackupCounts> PutKeysAsync(Requester requester, string? version, string? roomId, string? sessionId,
        JsonElement body, CancellationToken cancellationToken)
    {
        long number = ParseVersion(RequireVersionParameter(version));
        var uploaded = new Dictionary<(string Room, string Session), KeyBackupSession>();
        if (roomId is null)
        {
            foreach (var room in RequiredObject(body, "rooms").EnumerateObject())
            {
                ValidateRoomId(room.Name);
                if (room.Value.ValueKind != JsonValueKind.Object)
                {
                    throw MatrixException.BadJson($"'rooms.{room.Name}' must be an object");
                }

                AddSessions(uploaded, room.Name, RequiredObject(room.Value, "sessions", $"rooms.{room.Name}."));
            }
        }
        else
        {
            ValidateRoomId(roomId);
            if (sessionId is null)
            {
                AddSessions(uploaded, roomId, RequiredObject(body, "sessions"));
            }
            else
            {
                ValidateSessionId(sessionId);
                Add(uploaded, ParseSession(roomId, sessionId, body, ""));
            }
        }

        var result = await _store.PutKeysAsync(requester.UserId, number, uploaded.Values, Replaces, cancellationToken)
            .ConfigureAwait(false);
        return result.Status switch
        {
            KeyBackupWriteStatus.Written => new KeyBackupCounts(Format(result.Etag), result.Count),
            KeyBackupWriteStatus.NotCurrentVersion => throw new MatrixException(HttpStatusCode.Forbidden, ErrorCodes.WrongRoomKeysVersion,
                "Wrong backup version.", new Dictionary<string, object?> { ["current_version"] = Format(result.CurrentVersion) }),
            _ => throw UnknownVersion(),
        };
    }

    /// <summary>
    /// GET /room_keys/keys[/{roomId}[/{sessionId}]]: the stored sessions, ordered by room and session. A room without keys
    /// gives an empty list (the spec's <c>{"sessions": {}}</c>); a missing single session is 404 <c>M_NOT_FOUND</c>.
    /// </summary>
    public async Task<IReadOnlyList<KeyBackupSession>> GetKeysAsync(Requester requester, string? version, string? roomId,
        string? sessionId, CancellationToken cancellationToken)
    {
        long number = ParseVersion(RequireVersionParameter(version));
        ValidateScope(roomId, sessionId);
        var sessions = await _store.GetKeysAsync(requester.UserId, number, roomId, sessionId, cancellationToken).ConfigureAwait(false)
            ?? throw UnknownVersion();
        return sessionId is not null && sessions.Count == 0 ? throw MatrixException.NotFound("Key not found.") : sessions;
    }

    /// <summary>DELETE /room_keys/keys[/{roomId}[/{sessionId}]]: deleting keys the version does not hold changes nothing.</summary>
    public async Task<KeyBackupCounts> DeleteKeysAsync(Requester requester, string? version, string? roomId, string? sessionId,
        CancellationToken cancellationToken)
    {
        long number = ParseVersion(RequireVersionParameter(version));
        ValidateScope(roomId, sessionId);
        var after = await _store.DeleteKeysAsync(requester.UserId, number, roomId, sessionId, cancellationToken).ConfigureAwait(false)
            ?? throw UnknownVersion();
        return new KeyBackupCounts(Format(after.Etag), after.Count);
    }

    /// <summary>
    /// Whether an uploaded key replaces the stored key of the same session. Spec: keep the key with <c>is_verified</c> true
    /// when they differ; otherwise the lower <c>first_message_index</c>; when that is equal too, the lower
    /// <c>forwarded_count</c>. A full tie keeps the stored key, so re-uploading a key changes nothing (nor the etag).
    /// </summary>
    internal static bool Replaces(KeyBackupSession stored, KeyBackupSession uploaded)
    {
        if (stored.IsVerified != uploaded.IsVerified)
        {
            return uploaded.IsVerified;
        }

        if (stored.FirstMessageIndex != uploaded.FirstMessageIndex)
        {
            return uploaded.FirstMessageIndex < stored.FirstMessageIndex;
        }

        return uploaded.ForwardedCount < stored.ForwardedCount;
    }

    /// <summary>The version as clients see it: an opaque string, here the decimal number.</summary>
    internal static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static void AddSessions(Dictionary<(string, string), KeyBackupSession> uploaded, string roomId, JsonElement sessions)
    {
        foreach (var session in sessions.EnumerateObject())
        {
            ValidateSessionId(session.Name);
            Add(uploaded, ParseSession(roomId, session.Name, session.Value, $"rooms.{roomId}.sessions.{session.Name}."));
        }
    }

    /// <summary>A body naming one session twice keeps the better key, as two uploads in a row would.</summary>
    private static void Add(Dictionary<(string, string), KeyBackupSession> uploaded, KeyBackupSession session)
    {
        var key = (session.RoomId, session.SessionId);
        if (!uploaded.TryGetValue(key, out var earlier) || Replaces(earlier, session))
        {
            uploaded[key] = session;
        }
    }

    private static KeyBackupSession ParseSession(string roomId, string sessionId, JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson($"'{path.TrimEnd('.')}' must be an object");
        }

        long firstMessageIndex = RequiredCount(value, "first_message_index", path);
        long forwardedCount = RequiredCount(value, "forwarded_count", path);
        bool isVerified = value.TryGetProperty("is_verified", out var verified) && verified.ValueKind != JsonValueKind.Null
            ? verified.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw MatrixException.BadJson($"'{path}is_verified' must be a boolean"),
            }
            : throw MatrixException.MissingParam(path + "is_verified");
        string sessionData = RequiredObject(value, "session_data", path).GetRawText();
        return new KeyBackupSession(roomId, sessionId, firstMessageIndex, forwardedCount, isVerified, sessionData);
    }

    private static long RequiredCount(JsonElement body, string name, string path)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            throw MatrixException.MissingParam(path + name);
        }

        return value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out long number) && number >= 0
            ? number
            : throw MatrixException.BadJson($"'{path}{name}' must be a non-negative integer");
    }

    private static JsonElement RequiredObject(JsonElement body, string name, string path = "")
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            throw MatrixException.MissingParam(path + name);
        }

        return value.ValueKind == JsonValueKind.Object ? value : throw MatrixException.BadJson($"'{path}{name}' must be an object");
    }

    private static string RequireAlgorithm(JsonElement body)
    {
        string algorithm = body.RequiredString("algorithm");

        // The spec lists one algorithm, but deployed servers store any (clients try newer ones, e.g. MSC3270's).
        return algorithm.Length > 0 && Encoding.UTF8.GetByteCount(algorithm) <= MaxIdBytes
            ? algorithm
            : throw MatrixException.InvalidParam("'algorithm' must be 1-255 bytes");
    }

    private static string RequireVersionParameter(string? version) =>
        string.IsNullOrEmpty(version) ? throw MatrixException.MissingParam("version") : version;

    /// <summary>Versions are the decimal numbers this server hands out; any other string names no backup (404).</summary>
    private static long ParseVersion(string version) =>
        long.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out long number) ? number : throw UnknownVersion();

    private static void ValidateScope(string? roomId, string? sessionId)
    {
        if (roomId is not null)
        {
            ValidateRoomId(roomId);
        }

        if (sessionId is not null)
        {
            ValidateSessionId(sessionId);
        }
    }

    private static void ValidateRoomId(string roomId)
    {
        // Only the sigil and the length: room IDs of newer room versions carry no server name, and backups hold keys of
        // rooms on any server.
        if (!roomId.StartsWith('!') || roomId.Length < 2 || Encoding.UTF8.GetByteCount(roomId) > MaxIdBytes)
        {
            throw MatrixException.InvalidParam($"Invalid room ID: {roomId}");
        }
    }

    private static void ValidateSessionId(string sessionId)
    {
        if (sessionId.Length == 0 || Encoding.UTF8.GetByteCount(sessionId) > MaxIdBytes)
        {
            throw MatrixException.InvalidParam("Session IDs must be 1-255 bytes");
        }
    }

    private static MatrixException UnknownVersion() => MatrixException.NotFound("Unknown backup version");
}

/// <summary>A backup version's state after a key write: its etag and the number of sessions it holds.</summary>
/// <param name="Etag">The opaque etag.</param>
/// <param name="Count">The number of sessions.</param>
internal sealed record KeyBackupCounts(string Etag, long Count);

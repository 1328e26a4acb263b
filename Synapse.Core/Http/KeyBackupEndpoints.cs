using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Synapse.E2e;
using Synapse.Storage;

namespace Synapse.Http;

/// <summary>Server-side key backups (Spec: Client-Server API, "Server-side key backups").</summary>
internal static class KeyBackupEndpoints
{
    public static void Map(RouteGroupBuilder client)
    {
        client.MapPost("/room_keys/version", CreateVersionAsync);
        client.MapGet("/room_keys/version", GetCurrentVersionAsync);
        client.MapGet("/room_keys/version/{version}", GetVersionAsync);
        client.MapPut("/room_keys/version/{version}", UpdateVersionAsync);
        client.MapDelete("/room_keys/version/{version}", DeleteVersionAsync);

        client.MapPut("/room_keys/keys", (HttpContext c, KeyBackupService s) => PutKeysAsync(c, s, null, null));
        client.MapGet("/room_keys/keys", (HttpContext c, KeyBackupService s) => GetKeysAsync(c, s, null, null));
        client.MapDelete("/room_keys/keys", (HttpContext c, KeyBackupService s) => DeleteKeysAsync(c, s, null, null));
        client.MapPut("/room_keys/keys/{roomId}", (HttpContext c, KeyBackupService s, string roomId) => PutKeysAsync(c, s, roomId, null));
        client.MapGet("/room_keys/keys/{roomId}", (HttpContext c, KeyBackupService s, string roomId) => GetKeysAsync(c, s, roomId, null));
        client.MapDelete("/room_keys/keys/{roomId}",
            (HttpContext c, KeyBackupService s, string roomId) => DeleteKeysAsync(c, s, roomId, null));
        client.MapPut("/room_keys/keys/{roomId}/{sessionId}",
            (HttpContext c, KeyBackupService s, string roomId, string sessionId) => PutKeysAsync(c, s, roomId, sessionId));
        client.MapGet("/room_keys/keys/{roomId}/{sessionId}",
            (HttpContext c, KeyBackupService s, string roomId, string sessionId) => GetKeysAsync(c, s, roomId, sessionId));
        client.MapDelete("/room_keys/keys/{roomId}/{sessionId}",
            (HttpContext c, KeyBackupService s, string roomId, string sessionId) => DeleteKeysAsync(c, s, roomId, sessionId));
    }

    /// <summary>POST /_matrix/client/v3/room_keys/version</summary>
    private static async Task<IResult> CreateVersionAsync(HttpContext context, KeyBackupService backups)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        string version = await backups.CreateVersionAsync(requester, body, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { version });
    }

    /// <summary>GET /_matrix/client/v3/room_keys/version</summary>
    private static async Task<IResult> GetCurrentVersionAsync(HttpContext context, KeyBackupService backups)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        return VersionJson(await backups.GetVersionAsync(requester, null, context.RequestAborted).ConfigureAwait(false));
    }

    /// <summary>GET /_matrix/client/v3/room_keys/version/{version}</summary>
    private static async Task<IResult> GetVersionAsync(HttpContext context, KeyBackupService backups, string version)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        return VersionJson(await backups.GetVersionAsync(requester, version, context.RequestAborted).ConfigureAwait(false));
    }

    /// <summary>PUT /_matrix/client/v3/room_keys/version/{version}</summary>
    private static async Task<IResult> UpdateVersionAsync(HttpContext context, KeyBackupService backups, string version)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        await backups.UpdateVersionAsync(requester, version, body, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>DELETE /_matrix/client/v3/room_keys/version/{version}</summary>
    private static async Task<IResult> DeleteVersionAsync(HttpContext context, KeyBackupService backups, string version)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        await backups.DeleteVersionAsync(requester, version, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>
    /// PUT /_matrix/client/v3/room_keys/keys, PUT /_matrix/client/v3/room_keys/keys/{roomId} and
    /// PUT /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}
    /// </summary>
    private static async Task<IResult> PutKeysAsync(HttpContext context, KeyBackupService backups, string? roomId, string? sessionId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        var counts = await backups.PutKeysAsync(requester, VersionParameter(context), Decode(roomId), Decode(sessionId), body,
            context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { etag = counts.Etag, count = counts.Count });
    }

    /// <summary>
    /// GET /_matrix/client/v3/room_keys/keys, GET /_matrix/client/v3/room_keys/keys/{roomId} and
    /// GET /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}
    /// </summary>
    private static async Task<IResult> GetKeysAsync(HttpContext context, KeyBackupService backups, string? roomId, string? sessionId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var sessions = await backups.GetKeysAsync(requester, VersionParameter(context), Decode(roomId), Decode(sessionId),
            context.RequestAborted).ConfigureAwait(false);
        return SessionsJson(sessions, roomId is null ? Level.All : sessionId is null ? Level.Room : Level.Session);
    }

    /// <summary>
    /// DELETE /_matrix/client/v3/room_keys/keys, DELETE /_matrix/client/v3/room_keys/keys/{roomId} and
    /// DELETE /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}
    /// </summary>
    private static async Task<IResult> DeleteKeysAsync(HttpContext context, KeyBackupService backups, string? roomId,
        string? sessionId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var counts = await backups.DeleteKeysAsync(requester, VersionParameter(context), Decode(roomId), Decode(sessionId),
            context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { etag = counts.Etag, count = counts.Count });
    }

    private static string? VersionParameter(HttpContext context) =>
        context.Request.Query.TryGetValue("version", out var values) ? values[0] : null;

    /// <summary><c>auth_data</c> is stored as JSON text and written back verbatim.</summary>
    private static IResult VersionJson(KeyBackupVersion version)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("algorithm", version.Algorithm);
            writer.WritePropertyName("auth_data");
            writer.WriteRawValue(version.AuthDataJson, skipInputValidation: true);
            writer.WriteNumber("count", version.Count);
            writer.WriteString("etag", KeyBackupService.Format(version.Etag));
            writer.WriteString("version", KeyBackupService.Format(version.Version));
            writer.WriteEndObject();
        }

        return Results.Bytes(buffer.WrittenMemory, "application/json");
    }

    /// <summary>
    /// The keys in the shape of the route: <c>{"rooms": {roomId: {"sessions": {...}}}}</c>, <c>{"sessions": {...}}</c>, or
    /// one session's key data. <c>session_data</c> is written back verbatim, so a large backup is never parsed.
    /// </summary>
    private static IResult SessionsJson(IReadOnlyList<KeyBackupSession> sessions, Level level)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            if (level == Level.Session)
            {
                WriteSession(writer, sessions[0]);
            }
            else
            {
                writer.WriteStartObject();
                writer.WriteStartObject(level == Level.All ? "rooms" : "sessions");
                string? room = null;
                foreach (var session in sessions)
                {
                    // Sessions arrive ordered by room, so each room's object is written in one run.
                    if (level == Level.All && session.RoomId != room)
                    {
                        if (room is not null)
                        {
                            writer.WriteEndObject();
                            writer.WriteEndObject();
                        }

                        room = session.RoomId;
                        writer.WriteStartObject(room);
                        writer.WriteStartObject("sessions");
                    }

                    writer.WritePropertyName(session.SessionId);
                    WriteSession(writer, session);
                }

                if (room is not null)
                {
                    writer.WriteEndObject();
                    writer.WriteEndObject();
                }

                writer.WriteEndObject();
                writer.WriteEndObject();
            }
        }

        return Results.Bytes(buffer.WrittenMemory, "application/json");
    }

    private static void WriteSession(Utf8JsonWriter writer, KeyBackupSession session)
    {
        writer.WriteStartObject();
        writer.WriteNumber("first_message_index", session.FirstMessageIndex);
        writer.WriteNumber("forwarded_count", session.ForwardedCount);
        writer.WriteBoolean("is_verified", session.IsVerified);
        writer.WritePropertyName("session_data");
        writer.WriteRawValue(session.SessionDataJson, skipInputValidation: true);
        writer.WriteEndObject();
    }

    /// <summary>Kestrel decodes every escape in a path segment except <c>%2F</c>; session IDs are base64 and may contain '/'.</summary>
    private static string? Decode(string? value) =>
        value is not null && value.Contains('%', StringComparison.Ordinal)
            ? value.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase)
            : value;

    private enum Level
    {
        All,
        Room,
        Session,
    }
}

using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Accounts;
using Synapse.Configuration;
using Synapse.Http;
using Synapse.Identifiers;
using Synapse.Json;
using Synapse.Rooms;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Sync;

namespace Synapse.Replication.Http;

/// <summary>
/// HTTP replication on the main process: the writes a worker hands over (<c>send_event</c>, typing, receipts,
/// presence, new users and sessions) and the stream pages of streams that live in main's memory (<c>get_repl_stream_updates</c>). Served on
/// <c>type: http</c> listeners that name the <c>replication</c> resource, only to callers that present
/// <c>worker_replication_secret</c> as a bearer token (401 without one, 403 with a wrong one).
/// </summary>
/// <remarks>
/// Every write endpoint takes a transaction ID as its last path segment; a worker reuses it when it retries. Writes
/// answer with <c>stream_positions</c>, the positions the worker waits for before it answers its own client.
/// </remarks>
public static class ReplicationHttpEndpoints
{
    /// <summary>The path prefix of every HTTP replication endpoint.</summary>
    public const string Prefix = "/_synapse/replication";

    /// <summary>The device part of the transaction keys that make <c>send_event</c> retries idempotent.</summary>
    /// <remarks>It starts with a control character, which no client device ID may contain.</remarks>
    internal const string TransactionDevice = "\u0001replication";

    /// <summary>
    /// Maps the endpoints. Call after <c>UseSynapseHomeserver</c>, so that they run behind the Matrix pipeline (errors
    /// as Matrix JSON, listeners gated by resource).
    /// </summary>
    public static IEndpointRouteBuilder MapSynapseReplication(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = app.ServiceProvider.GetRequiredService<HomeserverOptions>();
        byte[] secret = SHA256.HashData(Encoding.UTF8.GetBytes(options.WorkerReplicationSecret
            ?? throw new InvalidOperationException("HTTP replication needs worker_replication_secret.")));
        var group = app.MapGroup(Prefix)
            .WithMetadata(new MatrixResourceAttribute(ListenerOptions.ReplicationResource))
            .AddEndpointFilter((context, next) =>
            {
                Authenticate(context.HttpContext, secret);
                return next(context);
            });
        group.MapPost("/send_event/{txnId}", SendEventAsync);
        group.MapPost("/typing/{roomId}/{userId}/{txnId}", SetTypingAsync);
        group.MapPost("/receipt/{roomId}/{receiptType}/{eventId}/{txnId}", SendReceiptAsync);
        group.MapPost("/read_markers/{roomId}/{txnId}", SetReadMarkersAsync);
        group.MapPost("/presence_set_state/{userId}/{txnId}", SetPresenceAsync);
        group.MapPost("/bump_presence_active_time/{userId}/{txnId}", BumpPresenceAsync);
        group.MapPost("/register_user/{userId}/{txnId}", RegisterUserAsync);
        group.MapPost("/device_check_registered/{userId}/{txnId}", AddSessionAsync);
        group.MapGet("/get_repl_stream_updates/{stream}", GetStreamUpdatesAsync);
        return app;
    }

    /// <summary>
    /// The bearer token is compared as a hash in constant time, so neither its content nor its length leaks through
    /// timing. A missing token is 401 <c>M_MISSING_TOKEN</c>; a wrong one 403 <c>M_FORBIDDEN</c>; never a 500.
    /// </summary>
    private static void Authenticate(HttpContext context, byte[] secretHash)
    {
        var headers = context.Request.Headers.Authorization;
        if (headers.Count == 0)
        {
            throw new MatrixException(HttpStatusCode.Unauthorized, ErrorCodes.MissingToken, "Missing replication secret");
        }

        string? header = headers.Count == 1 ? headers[0] : null;
        if (header is null || !header.StartsWith("Bearer ", StringComparison.Ordinal)
            || !CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(header[7..])), secretHash))
        {
            throw MatrixException.Forbidden("Wrong replication secret");
        }
    }

    /// <summary>
    /// POST send_event/{txnId} <c>{"drafts": [...]}</c>: builds, authorizes and persists the drafts on main. A draft
    /// without a client transaction is keyed by the replication transaction, durably with the event, so a retry after a
    /// lost answer, or after main restarted, returns the events already written instead of writing them again.
    /// </summary>
    private static async Task<IResult> SendEventAsync(HttpContext context, IRoomEventWriter writer, StreamRegistry streams, string txnId)
    {
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        if (!body.TryGetProperty("drafts", out var list) || list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0)
        {
            throw MatrixException.MissingParam("drafts");
        }

        var drafts = new List<EventDraft>(list.GetArrayLength());
        foreach (var item in list.EnumerateArray())
        {
            var draft = ReplicationJson.ReadDraft(item);
            drafts.Add(draft.Transaction is null
                ? draft with { Transaction = new TransactionKey(draft.Sender, TransactionDevice, txnId + ":" + drafts.Count.ToString(CultureInfo.InvariantCulture)) }
                : draft);
        }

        if (drafts.Any(d => d.RoomId != drafts[0].RoomId))
        {
            throw MatrixException.InvalidParam("All drafts of one send_event must be for one room");
        }

        var written = await writer.WriteAsync(drafts, context.RequestAborted).ConfigureAwait(false);
        return Answer(new JsonObject { ["events"] = new JsonArray([.. written.Select(ReplicationJson.WrittenEvent)]) },
            streams[StreamNames.Events]);
    }

    /// <summary>POST typing/{roomId}/{userId}/{txnId} <c>{"requester": ..., "body": {typing, timeout}}</c>.</summary>
    private static async Task<IResult> SetTypingAsync(HttpContext context, TypingService typing, StreamRegistry streams,
        string roomId, string userId)
    {
        var (requester, body) = await ReadForwardedAsync(context).ConfigureAwait(false);
        await typing.SetTypingAsync(requester, roomId, userId, body, context.RequestAborted).ConfigureAwait(false);
        return Answer([], streams[StreamNames.Typing]);
    }

    /// <summary>POST receipt/{roomId}/{receiptType}/{eventId}/{txnId} <c>{"requester": ..., "body": {thread_id?}}</c>.</summary>
    private static async Task<IResult> SendReceiptAsync(HttpContext context, ReceiptService receipts, StreamRegistry streams,
        string roomId, string receiptType, string eventId)
    {
        var (requester, body) = await ReadForwardedAsync(context).ConfigureAwait(false);
        await receipts.SendReceiptAsync(requester, roomId, receiptType, eventId, body, context.RequestAborted).ConfigureAwait(false);
        return Answer([], streams[StreamNames.Receipts], streams[StreamNames.AccountData]);
    }

    /// <summary>POST read_markers/{roomId}/{txnId} <c>{"requester": ..., "body": {m.fully_read?, m.read?, ...}}</c>.</summary>
    private static async Task<IResult> SetReadMarkersAsync(HttpContext context, ReceiptService receipts, StreamRegistry streams,
        string roomId)
    {
        var (requester, body) = await ReadForwardedAsync(context).ConfigureAwait(false);
        await receipts.SetReadMarkersAsync(requester, roomId, body, context.RequestAborted).ConfigureAwait(false);
        return Answer([], streams[StreamNames.Receipts], streams[StreamNames.AccountData]);
    }

    /// <summary>POST presence_set_state/{userId}/{txnId} <c>{"requester": ..., "body": {presence, status_msg?}}</c>.</summary>
    private static async Task<IResult> SetPresenceAsync(HttpContext context, PresenceService presence, StreamRegistry streams,
        string userId)
    {
        var (requester, body) = await ReadForwardedAsync(context).ConfigureAwait(false);
        await presence.SetPresenceAsync(requester, userId, body, context.RequestAborted).ConfigureAwait(false);

        // Presence is written in batches: the answer waits until this change is stored and on the stream.
        await presence.WhenWrittenAsync().ConfigureAwait(false);
        return Answer([], streams[StreamNames.Presence]);
    }

    /// <summary>POST bump_presence_active_time/{userId}/{txnId} <c>{}</c>: the local user acted (sent) on a worker.</summary>
    private static async Task<IResult> BumpPresenceAsync(PresenceService presence, HomeserverOptions options, StreamRegistry streams,
        string userId, CancellationToken cancellationToken)
    {
        await presence.BumpActiveAsync(LocalUser(userId, options), cancellationToken).ConfigureAwait(false);
        return Answer([], streams[StreamNames.Presence]);
    }

    /// <summary>
    /// POST register_user/{userId}/{txnId} <c>{"password_hash", "admin", "guest", "user_type", "displayname",
    /// "created_ts"}</c>: creates a local user the worker has checked and authenticated (UIA, name rules, password hash).
    /// 400 <c>M_USER_IN_USE</c> when the ID is taken; the transaction is stored with the user, so the same call retried
    /// after a lost answer succeeds instead.
    /// </summary>
    private static async Task<IResult> RegisterUserAsync(HttpContext context, IAccountWriter writer, HomeserverOptions options,
        string userId, string txnId)
    {
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        var user = ReplicationJson.ReadNewUser(LocalUser(userId, options), body, txnId);
        if (!await writer.CreateUserAsync(user, context.RequestAborted).ConfigureAwait(false))
        {
            throw new MatrixException(HttpStatusCode.BadRequest, ErrorCodes.UserInUse, "User ID already taken.");
        }

        return MatrixHttp.Json(new JsonObject());
    }

    /// <summary>
    /// POST device_check_registered/{userId}/{txnId} <c>{"device_id", "display_name"?, "token_hash"}</c>: creates the
    /// device if needed and gives it the access token the worker made (only its hash travels). Repeating it with the same
    /// hash changes nothing. Answers with the device-lists position a new device was written at.
    /// </summary>
    private static async Task<IResult> AddSessionAsync(HttpContext context, IAccountWriter writer, IAccountStore accounts,
        HomeserverOptions options, StreamRegistry streams, string userId)
    {
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        var user = LocalUser(userId, options);
        var device = DeviceId.TryParse(body.RequiredString("device_id"), out var id) ? id : throw MatrixException.InvalidParam("Invalid device_id");
        string tokenHash = body.RequiredString("token_hash");
        if (tokenHash.Length is 0 or > 128)
        {
            throw MatrixException.InvalidParam("Invalid token_hash");
        }

        if (await accounts.GetUserAsync(user, context.RequestAborted).ConfigureAwait(false) is not { IsDeactivated: false })
        {
            throw MatrixException.NotFound("Unknown or deactivated user");
        }

        if (await accounts.FindAccessTokenAsync(tokenHash, context.RequestAborted).ConfigureAwait(false) is { } owner
            && (owner.UserId != user || owner.DeviceId != device))
        {
            throw MatrixException.InvalidParam("token_hash belongs to another device");
        }

        await writer.AddSessionAsync(user, device, body.OptionalString("display_name"), tokenHash, context.RequestAborted)
            .ConfigureAwait(false);
        return Answer([], streams[StreamNames.DeviceLists]);
    }

    private static UserId LocalUser(string userId, HomeserverOptions options) =>
        UserId.TryParse(userId, out var user) && user.ServerName == options.ServerName
            ? user
            : throw MatrixException.InvalidParam($"{userId} is not a local user ID");

    /// <summary>
    /// GET get_repl_stream_updates/{stream}?from_token=&amp;upto_token=&amp;limit=: the stream's updates in
    /// (from, upto], at most <c>limit</c> positions (default 100, at most 1,000). <c>limited</c> tells the caller to ask
    /// again from the last position returned. 400 <c>M_INVALID_PARAM</c> for a stream main does not serve.
    /// </summary>
    private static async Task<IResult> GetStreamUpdatesAsync(HttpContext context, IEnumerable<IStreamSource> sources, string stream)
    {
        var source = sources.FirstOrDefault(s => s.Stream == stream)
            ?? throw MatrixException.InvalidParam($"Unknown stream {stream}");
        long from = QueryLong(context, "from_token") ?? throw MatrixException.MissingParam("from_token");
        long upTo = QueryLong(context, "upto_token") ?? throw MatrixException.MissingParam("upto_token");
        int limit = (int)Math.Clamp(QueryLong(context, "limit") ?? 100, 1, 1000);
        var updates = await source.GetUpdatesAsync(from, upTo, limit, context.RequestAborted).ConfigureAwait(false);
        bool limited = updates.Count >= limit && updates[^1].Position < upTo;
        return MatrixHttp.Json(new JsonObject
        {
            ["updates"] = ReplicationJson.Updates(updates),
            ["upto_token"] = limited ? updates[^1].Position : upTo,
            ["limited"] = limited,
        });
    }

    private static async Task<(Accounts.Requester Requester, JsonElement Body)> ReadForwardedAsync(HttpContext context)
    {
        var json = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        var requester = ReplicationJson.ReadRequester(json);
        var body = json.TryGetProperty("body", out var inner) && inner.ValueKind == JsonValueKind.Object
            ? inner
            : throw MatrixException.MissingParam("body");
        return (requester, body);
    }

    private static IResult Answer(JsonObject response, params StreamIdGenerator[] written)
    {
        response[ReplicationJson.PositionsKey] = ReplicationJson.Positions(written);
        return MatrixHttp.Json(response);
    }

    private static long? QueryLong(HttpContext context, string name) =>
        context.Request.Query[name] is [{ } text]
            ? long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value)
                ? value
                : throw MatrixException.InvalidParam($"{name} must be an integer")
            : null;
}

using System.Buffers.Text;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Synapse.Accounts;
using Synapse.Auth;
using Synapse.Configuration;
using Synapse.Events;
using Synapse.Identifiers;
using Synapse.Json;
using Synapse.RoomVersions;
using Synapse.Storage;

namespace Synapse.Rooms;

/// <summary>
/// Room aliases and the published room directory: create, resolve and delete local aliases, list a room's
/// aliases, publish rooms and list the published ones.
/// </summary>
/// <remarks>
/// Spec: Client-Server API, "Room aliases" and "Published room directory". Access rules beyond the spec's
/// (it leaves them to the server):
/// <list type="bullet">
/// <item>creating an alias needs the user to be joined to the room;</item>
/// <item>deleting one is allowed to its creator, a server admin, or a joined member whose power level allows
/// sending <c>m.room.canonical_alias</c>;</item>
/// <item>publishing or unpublishing a room needs a server admin or that same power (the members who curate the
/// room's advertised aliases also decide whether it is advertised in the directory).</item>
/// </list>
/// </remarks>
internal sealed partial class DirectoryService
{
    private const string CanonicalAlias = "m.room.canonical_alias";

    /// <summary>The state the directory shows for a room, all with an empty state key.</summary>
    private static readonly string[] ShownStateTypes =
    [
        AuthEventTypes.Create, "m.room.name", "m.room.topic", CanonicalAlias, "m.room.avatar", AuthEventTypes.JoinRules,
        "m.room.history_visibility", "m.room.guest_access",
    ];

    private readonly HomeserverOptions _options;
    private readonly IRoomDirectoryStore _directory;
    private readonly IEventStore _events;
    private readonly IAccountStore _accounts;
    private readonly IRoomEventWriter _writer;
    private readonly ILogger<DirectoryService> _logger;

    public DirectoryService(HomeserverOptions options, IRoomDirectoryStore directory, IEventStore events, IAccountStore accounts,
        IRoomEventWriter writer, ILogger<DirectoryService> logger)
    {
        _options = options;
        _directory = directory;
        _events = events;
        _accounts = accounts;
        _writer = writer;
        _logger = logger;
    }

    /// <summary>PUT /directory/room/{roomAlias}: 409 when the alias exists, 403 unless the user is joined to the room.</summary>
    public async Task CreateAliasAsync(Requester requester, string alias, string roomId, CancellationToken cancellationToken)
    {
        ValidateLocalAlias(alias);
        var room = await GetRoomAsync(roomId, cancellationToken).ConfigureAwait(false);
        var authority = await LoadAuthorityAsync(room, requester.UserId.Value, cancellationToken).ConfigureAwait(false);
        if (authority.Membership != Memberships.Join)
        {
            throw MatrixException.Forbidden("You must be in the room to create an alias for it");
        }

        if (!await _directory.CreateAliasAsync(alias, room.RoomId, requester.UserId.Value, cancellationToken).ConfigureAwait(false))
        {
            // Spec: 409 with M_UNKNOWN (the errcode of the spec's example; there is no dedicated code).
            throw new MatrixException(HttpStatusCode.Conflict, ErrorCodes.Unknown, $"Room alias {alias} already exists");
        }
    }

    /// <summary>GET /directory/room/{roomAlias}: the room and the servers that can help joining it.</summary>
    public async Task<AliasResolution> ResolveAliasAsync(string alias, CancellationToken cancellationToken)
    {
        ValidateAlias(alias);
        if (!IsLocal(alias))
        {
            throw MatrixException.NotFound(
                $"Room alias {alias} not found: resolving other servers' aliases needs federation, which this server does not have yet");
        }

        var found = await _directory.GetAliasAsync(alias, cancellationToken).ConfigureAwait(false)
            ?? throw MatrixException.NotFound($"Room alias {alias} not found");

        // Every member is local until federation arrives, so this server is the only one to ask.
        return new AliasResolution(found.RoomId, [_options.ServerName]);
    }

    /// <summary>
    /// DELETE /directory/room/{roomAlias}. Afterwards the alias is also taken out of the room's
    /// <c>m.room.canonical_alias</c>, as the requester; when the requester may not send that event the alias is
    /// still deleted (the spec recommends exactly that).
    /// </summary>
    public async Task DeleteAliasAsync(Requester requester, string alias, CancellationToken cancellationToken)
    {
        ValidateLocalAlias(alias);
        var (roomId, creator) = await _directory.GetAliasAsync(alias, cancellationToken).ConfigureAwait(false)
            ?? throw MatrixException.NotFound($"Room alias {alias} not found");
        if (creator != requester.UserId.Value && !await IsAdminAsync(requester, cancellationToken).ConfigureAwait(false))
        {
            var room = await _events.GetRoomAsync(roomId, cancellationToken).ConfigureAwait(false);
            var authority = room is null ? null : await LoadAuthorityAsync(room, requester.UserId.Value, cancellationToken).ConfigureAwait(false);
            if (authority is null || !authority.MayEditAliases(requester.UserId.Value))
            {
                throw MatrixException.Forbidden("You don't have permission to delete the alias");
            }
        }

        if (!await _directory.DeleteAliasAsync(alias, cancellationToken).ConfigureAwait(false))
        {
            throw MatrixException.NotFound($"Room alias {alias} not found");
        }

        await RemoveFromCanonicalAliasAsync(requester, roomId, alias, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>GET /rooms/{roomId}/aliases: for joined members, anyone when the room is world-readable, and server admins.</summary>
    public async Task<IReadOnlyList<string>> GetLocalAliasesAsync(Requester requester, string roomId, CancellationToken cancellationToken)
    {
        RoomService.ValidateRoomId(roomId);

        // An unknown room answers like a room the user is not in: the spec defines 403 here, not 404.
        if (await _events.GetRoomAsync(roomId, cancellationToken).ConfigureAwait(false) is null)
        {
            throw MatrixException.Forbidden("You aren't a member of the room");
        }

        var visibility = await RoomVisibility.LoadAsync(_events, roomId, requester.UserId.Value, cancellationToken).ConfigureAwait(false);
        if (visibility.CurrentMembership != Memberships.Join && !visibility.IsWorldReadable
            && !await IsAdminAsync(requester, cancellationToken).ConfigureAwait(false))
        {
            throw MatrixException.Forbidden("You aren't a member of the room");
        }

        var aliases = await _directory.GetAliasesForRoomAsync(roomId, cancellationToken).ConfigureAwait(false);
        return aliases.Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>GET /directory/list/room/{roomId}: whether the room is published; 404 when unknown.</summary>
    public async Task<bool> IsPublishedAsync(string roomId, CancellationToken cancellationToken) =>
        (await GetRoomAsync(roomId, cancellationToken).ConfigureAwait(false)).IsPublic;

    /// <summary>PUT /directory/list/room/{roomId}: publishes or unpublishes the room.</summary>
    public async Task SetPublishedAsync(Requester requester, string roomId, string visibility, CancellationToken cancellationToken)
    {
        RoomService.ValidateRoomId(roomId);
        if (visibility is not ("public" or "private"))
        {
            throw MatrixException.InvalidParam("'visibility' must be 'public' or 'private'");
        }

        var room = await GetRoomAsync(roomId, cancellationToken).ConfigureAwait(false);
        if (!await IsAdminAsync(requester, cancellationToken).ConfigureAwait(false))
        {
            var authority = await LoadAuthorityAsync(room, requester.UserId.Value, cancellationToken).ConfigureAwait(false);
            if (!authority.MayEditAliases(requester.UserId.Value))
            {
                throw MatrixException.Forbidden(
                    "You need to be in the room with the power to change its canonical alias to change its visibility in the directory");
            }
        }

        await _directory.SetRoomPublicAsync(room.RoomId, visibility == "public", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// GET and POST /publicRooms: the published rooms that can be joined or read (the spec lets a server leave out
    /// published rooms with an <c>invite</c> join rule that are not world-readable; like Synapse we list only rooms
    /// with a <c>public</c>, <c>knock</c> or <c>knock_restricted</c> join rule or world-readable history), most
    /// joined members first, then by room ID.
    /// </summary>
    /// <remarks>
    /// The directory is read whole on each request (one query for the rooms, one for their state events), which is
    /// fine for the hundreds of rooms a server publishes; a denormalised directory table can replace it when
    /// that stops being true. Pages are keyset pages over (members, room ID), so a token stays meaningful when
    /// rooms are published or unpublished between requests.
    /// </remarks>
    public async Task<PublicRoomsPage> GetPublicRoomsAsync(PublicRoomsQuery query, CancellationToken cancellationToken)
    {
        if (query.Server is { } server && server != _options.ServerName)
        {
            if (!ServerName.TryParse(server, out _))
            {
                throw MatrixException.InvalidParam($"Invalid server name: {server}");
            }

            throw MatrixException.NotFound(
                $"Cannot list the room directory of {server}: that needs federation, which this server does not have yet");
        }

        if (query.IncludeAllNetworks && query.ThirdPartyInstanceId is not null)
        {
            throw MatrixException.InvalidParam("'third_party_instance_id' can only be used when 'include_all_networks' is false");
        }

        var since = query.Since is null ? (PublicRoomsToken?)null : PublicRoomsToken.Parse(query.Since);

        // Rooms published for a third-party network come from application services, which this server does not run yet.
        if (query.ThirdPartyInstanceId is not null)
        {
            return new PublicRoomsPage([], null, null, 0);
        }

        var published = await _directory.GetPublishedRoomsAsync(ShownStateTypes, cancellationToken).ConfigureAwait(false);
        var eventIds = published.SelectMany(r => r.StateEventIds.Values).ToList();
        var events = (await _events.GetEventsAsync(eventIds, cancellationToken).ConfigureAwait(false))
            .ToDictionary(e => e.Pdu.EventId, StringComparer.Ordinal);

        var rooms = published
            .Select(r => Summarize(r, events))
            .Where(r => r.IsListed && query.Matches(r.Chunk))
            .Select(r => r.Chunk)
            .Order(PublicRoomOrder.Instance)
            .ToList();
        return Paginate(rooms, since, query.Limit is null or 0 ? int.MaxValue : query.Limit.Value);
    }

    private static PublicRoomsPage Paginate(List<PublicRoomChunk> rooms, PublicRoomsToken? since, int limit)
    {
        int start, end;
        if (since is not { } token)
        {
            start = 0;
            end = (int)Math.Min(rooms.Count, (long)limit);
        }
        else if (token.Forwards)
        {
            // The first room after the token's room in the listing order.
            start = rooms.FindIndex(r => PublicRoomOrder.Compare(r.NumJoinedMembers, r.RoomId, token.JoinedMembers, token.RoomId) > 0);
            start = start < 0 ? rooms.Count : start;
            end = (int)Math.Min(rooms.Count, start + (long)limit);
        }
        else
        {
            // The rooms just before the token's room.
            end = rooms.FindLastIndex(r => PublicRoomOrder.Compare(r.NumJoinedMembers, r.RoomId, token.JoinedMembers, token.RoomId) < 0) + 1;
            start = (int)Math.Max(0, end - (long)limit);
        }

        var chunk = rooms.GetRange(start, end - start);
        string? next = chunk.Count > 0 && end < rooms.Count ? new PublicRoomsToken(true, chunk[^1].NumJoinedMembers, chunk[^1].RoomId).Format() : null;
        string? prev = chunk.Count > 0 && start > 0 ? new PublicRoomsToken(false, chunk[0].NumJoinedMembers, chunk[0].RoomId).Format() : null;
        return new PublicRoomsPage(chunk, next, prev, rooms.Count);
    }

    private static RoomSummary Summarize(PublishedRoom room, Dictionary<string, StoredEvent> events)
    {
        JsonElement Content(string type) =>
            room.StateEventIds.TryGetValue(type, out string? id) && events.TryGetValue(id, out var e) ? ContentOf(e) : default;

        var create = Content(AuthEventTypes.Create);
        string? joinRule = NonEmpty(Content(AuthEventTypes.JoinRules), "join_rule");
        bool worldReadable = NonEmpty(Content("m.room.history_visibility"), "history_visibility") == "world_readable";
        var chunk = new PublicRoomChunk(
            room.RoomId,
            room.JoinedMembers,
            NonEmpty(Content("m.room.name"), "name"),
            NonEmpty(Content("m.room.topic"), "topic"),
            NonEmpty(Content(CanonicalAlias), "alias"),
            NonEmpty(Content("m.room.avatar"), "url"),
            worldReadable,
            NonEmpty(Content("m.room.guest_access"), "guest_access") == "can_join",
            joinRule,
            NonEmpty(create, "type"));

        // Without a join rules event nobody but the creator can join (the auth rules' default is not "public").
        bool joinable = joinRule is "public" or "knock" or "knock_restricted";
        return new RoomSummary(chunk, joinable || worldReadable);
    }

    private static JsonElement ContentOf(StoredEvent stored)
    {
        if (stored.RedactedBy is null)
        {
            return stored.Pdu.Content;
        }

        var redacted = Redaction.Redact(stored.Pdu.Json, stored.Pdu.RoomVersion);
        return redacted["content"] is JsonObject content ? JsonSerializer.SerializeToElement(content) : default;
    }

    private static string? NonEmpty(JsonElement content, string name) =>
        content.ValueKind == JsonValueKind.Object && content.TryGetProperty(name, out var value)
            && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text
            ? text
            : null;

    private async Task RemoveFromCanonicalAliasAsync(Requester requester, string roomId, string alias, CancellationToken cancellationToken)
    {
        var ids = await _events.GetCurrentStateIdsAsync(roomId, cancellationToken).ConfigureAwait(false);
        if (!ids.TryGetValue(new TypeStateKey(CanonicalAlias, ""), out string? eventId))
        {
            return;
        }

        var stored = await _events.GetEventsAsync([eventId], cancellationToken).ConfigureAwait(false);
        if (stored.Count == 0 || ContentOf(stored[0]) is not { ValueKind: JsonValueKind.Object } current)
        {
            return;
        }

        var content = RoomService.ToObject(current);
        bool changed = false;
        if (content["alias"] is JsonValue value && value.TryGetValue(out string? canonical) && canonical == alias)
        {
            content.Remove("alias");
            changed = true;
        }

        if (content["alt_aliases"] is JsonArray alternatives
            && alternatives.Any(a => a is JsonValue v && v.TryGetValue(out string? s) && s == alias))
        {
            var kept = alternatives.Where(a => !(a is JsonValue v && v.TryGetValue(out string? s) && s == alias))
                .Select(a => a?.DeepClone()).ToArray();
            if (kept.Length == 0)
            {
                content.Remove("alt_aliases");
            }
            else
            {
                content["alt_aliases"] = new JsonArray(kept);
            }

            changed = true;
        }

        if (!changed)
        {
            return;
        }

        try
        {
            await _writer.WriteAsync([new EventDraft(roomId, CanonicalAlias, "", requester.UserId.Value, content)], cancellationToken)
                .ConfigureAwait(false);
        }
        catch (MatrixException e) when (e.Status == HttpStatusCode.Forbidden)
        {
            // Spec: the alias is deleted and the request succeeds even when the user may not update the event.
            Log.CanonicalAliasNotUpdated(_logger, alias, roomId, requester.UserId.Value, e.Message);
        }
    }

    private async Task<RoomRecord> GetRoomAsync(string roomId, CancellationToken cancellationToken)
    {
        RoomService.ValidateRoomId(roomId);
        return await _events.GetRoomAsync(roomId, cancellationToken).ConfigureAwait(false)
            ?? throw MatrixException.NotFound($"Room not found: {roomId}");
    }

    private async Task<bool> IsAdminAsync(Requester requester, CancellationToken cancellationToken) =>
        !requester.IsGuest && (await _accounts.GetUserAsync(requester.UserId, cancellationToken).ConfigureAwait(false))?.IsAdmin == true;

    /// <summary>The user's membership and the room's power levels, from the current state.</summary>
    private async Task<RoomAuthority> LoadAuthorityAsync(RoomRecord room, string userId, CancellationToken cancellationToken)
    {
        var ids = await _events.GetCurrentStateIdsAsync(room.RoomId, cancellationToken).ConfigureAwait(false);
        TypeStateKey[] keys =
        [
            new(AuthEventTypes.Create, ""), new(AuthEventTypes.PowerLevels, ""), new(AuthEventTypes.Member, userId),
        ];
        var wanted = keys.Where(ids.ContainsKey).Select(k => ids[k]).ToList();
        var state = new Dictionary<TypeStateKey, Pdu>();
        foreach (var stored in await _events.GetEventsAsync(wanted, cancellationToken).ConfigureAwait(false))
        {
            state[new TypeStateKey(stored.Pdu.Type, stored.Pdu.StateKey ?? "")] = stored.Pdu;
        }

        var version = KnownRoomVersions.Find(room.RoomVersion) ?? KnownRoomVersions.Default;
        string? membership = state.TryGetValue(keys[2], out var member) ? member.ContentString("membership") : null;
        return new RoomAuthority(membership, PowerLevels.FromState(state, version));
    }

    /// <summary>Alias syntax (appendices, "Room aliases"): 400 <c>M_INVALID_PARAM</c> when wrong.</summary>
    private static void ValidateAlias(string alias)
    {
        if (!RoomAliases.IsValid(alias) || Encoding.UTF8.GetByteCount(alias) > 255)
        {
            throw MatrixException.InvalidParam($"Invalid room alias: {alias}");
        }
    }

    private void ValidateLocalAlias(string alias)
    {
        ValidateAlias(alias);
        if (!IsLocal(alias))
        {
            throw MatrixException.InvalidParam($"Room alias must be on this server ({_options.ServerName})");
        }
    }

    private bool IsLocal(string alias) =>
        alias.AsSpan(alias.IndexOf(':', StringComparison.Ordinal) + 1).SequenceEqual(_options.ServerName);

    private sealed record RoomAuthority(string? Membership, PowerLevels Levels)
    {
        /// <summary>Joined, with the level needed to send <c>m.room.canonical_alias</c>.</summary>
        public bool MayEditAliases(string userId) =>
            Membership == Memberships.Join && Levels.UserLevel(userId) >= Levels.EventLevel(CanonicalAlias, isState: true);
    }

    private sealed record RoomSummary(PublicRoomChunk Chunk, bool IsListed);

    private sealed class PublicRoomOrder : IComparer<PublicRoomChunk>
    {
        public static readonly PublicRoomOrder Instance = new();

        public static int Compare(long membersA, string roomA, long membersB, string roomB) =>
            membersA != membersB ? membersB.CompareTo(membersA) : string.CompareOrdinal(roomA, roomB);

        public int Compare(PublicRoomChunk? x, PublicRoomChunk? y) =>
            Compare(x!.NumJoinedMembers, x.RoomId, y!.NumJoinedMembers, y.RoomId);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3201, Level = LogLevel.Information,
            Message = "Deleted alias {Alias} but left it in the canonical alias of {RoomId}: {UserId} may not change it ({Reason})")]
        public static partial void CanonicalAliasNotUpdated(ILogger logger, string alias, string roomId, string userId, string reason);
    }
}

/// <summary>The answer of GET /directory/room/{roomAlias}.</summary>
internal sealed record AliasResolution(string RoomId, IReadOnlyList<string> Servers);

/// <summary>
/// What GET or POST /publicRooms asks for. <see cref="Limit"/> 0 or null means no limit (as Synapse does);
/// an empty <see cref="RoomTypes"/> list means any type, like an absent one.
/// </summary>
internal sealed record PublicRoomsQuery(string? Server, int? Limit, string? Since, string? SearchTerm,
    IReadOnlyList<string?>? RoomTypes, bool IncludeAllNetworks, string? ThirdPartyInstanceId)
{
    /// <summary>Reads GET's query string values (already taken out of the request; empty counts as absent).</summary>
    public static PublicRoomsQuery FromQueryString(string? server, string? limit, string? since) =>
        new(server, ParseLimit(limit), since, null, null, false, null);

    /// <summary>Reads POST's body: wrong types are 400 <c>M_BAD_JSON</c>, bad values 400 <c>M_INVALID_PARAM</c>.</summary>
    public static PublicRoomsQuery FromBody(string? server, JsonElement body)
    {
        int? limit = null;
        if (body.OptionalElement("limit") is { } limitValue)
        {
            if (limitValue.ValueKind != JsonValueKind.Number || !limitValue.TryGetInt64(out long l))
            {
                throw MatrixException.BadJson("'limit' must be an integer");
            }

            limit = l >= 0 ? (int)Math.Min(l, int.MaxValue) : throw MatrixException.InvalidParam("'limit' must not be negative");
        }

        string? searchTerm = null;
        List<string?>? roomTypes = null;
        if (body.OptionalElement("filter") is { } filter)
        {
            if (filter.ValueKind != JsonValueKind.Object)
            {
                throw MatrixException.BadJson("'filter' must be an object");
            }

            searchTerm = filter.OptionalString("generic_search_term");
            if (filter.OptionalElement("room_types") is { } types)
            {
                if (types.ValueKind != JsonValueKind.Array
                    || types.EnumerateArray().Any(t => t.ValueKind is not (JsonValueKind.String or JsonValueKind.Null)))
                {
                    throw MatrixException.BadJson("'room_types' must be an array of strings and nulls");
                }

                roomTypes = types.EnumerateArray().Select(t => t.ValueKind == JsonValueKind.Null ? null : t.GetString()).ToList();
            }
        }

        return new PublicRoomsQuery(server, limit, body.OptionalString("since") is { Length: > 0 } since ? since : null,
            string.IsNullOrWhiteSpace(searchTerm) ? null : searchTerm.Trim(), roomTypes,
            body.OptionalBool("include_all_networks") ?? false, body.OptionalString("third_party_instance_id"));
    }

    /// <summary>Whether a room passes the filter: its type is one of <see cref="RoomTypes"/>, and the search term
    /// occurs in its name, topic or canonical alias, ignoring case.</summary>
    public bool Matches(PublicRoomChunk room)
    {
        if (RoomTypes is { Count: > 0 } && !RoomTypes.Contains(room.RoomType))
        {
            return false;
        }

        return SearchTerm is not { } term
            || Contains(room.Name, term) || Contains(room.Topic, term) || Contains(room.CanonicalAlias, term);
    }

    private static bool Contains(string? text, string term) => text?.Contains(term, StringComparison.OrdinalIgnoreCase) == true;

    private static int? ParseLimit(string? text) =>
        text is null
            ? null
            : long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long limit)
                ? (int)Math.Min(limit, int.MaxValue)
                : throw MatrixException.InvalidParam("'limit' must be a non-negative integer");
}

/// <summary>One page of /publicRooms.</summary>
internal sealed record PublicRoomsPage(IReadOnlyList<PublicRoomChunk> Chunk, string? NextBatch, string? PrevBatch,
    int TotalRoomCountEstimate);

/// <summary>A room as /publicRooms lists it (Spec: "PublishedRoomsChunk"); null fields are left out of the JSON.</summary>
internal sealed record PublicRoomChunk(string RoomId, long NumJoinedMembers, string? Name, string? Topic, string? CanonicalAlias,
    string? AvatarUrl, bool WorldReadable, bool GuestCanJoin, string? JoinRule, string? RoomType);

/// <summary>
/// A /publicRooms pagination token: the room a page ended (or started) at and the direction to go from it,
/// as unpadded base64url of three lines (<c>f</c> or <c>b</c>, the member count, the room ID); opaque to clients.
/// </summary>
internal readonly record struct PublicRoomsToken(bool Forwards, long JoinedMembers, string RoomId)
{
    public string Format() =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(
            string.Create(CultureInfo.InvariantCulture, $"{(Forwards ? 'f' : 'b')}\n{JoinedMembers}\n{RoomId}")));

    /// <summary>Parses a token; 400 <c>M_INVALID_PARAM</c> when it is not one of ours.</summary>
    public static PublicRoomsToken Parse(string token)
    {
        string text;
        try
        {
            text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(token));
        }
        catch (FormatException)
        {
            throw Invalid();
        }

        string[] parts = text.Split('\n');
        return parts.Length == 3 && parts[0] is ("f" or "b")
            && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long members)
            && parts[2].StartsWith('!')
            ? new PublicRoomsToken(parts[0] == "f", members, parts[2])
            : throw Invalid();
    }

    private static MatrixException Invalid() => MatrixException.InvalidParam("Invalid 'since' token");
}

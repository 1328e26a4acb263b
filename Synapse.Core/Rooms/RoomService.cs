using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Accounts;
using Synapse.Auth;
using Synapse.Configuration;
using Synapse.Events;
using Synapse.Identifiers;
using Synapse.Json;
using Synapse.RoomVersions;
using Synapse.Storage;

namespace Synapse.Rooms;

/// <summary>Room writes of the client API: create, send, state, membership, redaction.</summary>
internal sealed class RoomService
{
    private readonly HomeserverOptions _options;
    private readonly IRoomEventWriter _writer;
    private readonly IEventStore _events;
    private readonly IRoomDirectoryStore _directory;
    private readonly IAccountStore _accounts;
    private readonly Sync.IPresenceActivity _presence;

    public RoomService(HomeserverOptions options, IRoomEventWriter writer, IEventStore events, IRoomDirectoryStore directory,
        IAccountStore accounts, Sync.IPresenceActivity presence)
    {
        _options = options;
        _writer = writer;
        _events = events;
        _directory = directory;
        _accounts = accounts;
        _presence = presence;
    }

    /// <summary>POST /createRoom. Spec: Client-Server API, "Creation".</summary>
    public async Task<string> CreateRoomAsync(Requester requester, JsonElement body, CancellationToken cancellationToken)
    {
        string visibility = body.OptionalString("visibility") ?? "private";
        if (visibility is not ("public" or "private"))
        {
            throw MatrixException.InvalidParam("'visibility' must be 'public' or 'private'");
        }

        string preset = body.OptionalString("preset") ?? (visibility == "public" ? "public_chat" : "private_chat");
        if (preset is not ("private_chat" or "public_chat" or "trusted_private_chat"))
        {
            throw MatrixException.InvalidParam("'preset' must be private_chat, public_chat or trusted_private_chat");
        }

        string? versionId = body.OptionalString("room_version");
        var version = versionId is null
            ? KnownRoomVersions.Find(_options.DefaultRoomVersion) ?? KnownRoomVersions.Default
            : KnownRoomVersions.Find(versionId)
              ?? throw new MatrixException(HttpStatusCode.BadRequest, "M_UNSUPPORTED_ROOM_VERSION",
                  $"Room version {versionId} is not supported");
        var creationContent = ObjectOrEmpty(body, "creation_content");
        var plOverride = body.OptionalElement("power_level_content_override");
        if (plOverride is { ValueKind: not JsonValueKind.Object })
        {
            throw MatrixException.BadJson("'power_level_content_override' must be an object");
        }

        bool isDirect = body.OptionalBool("is_direct") ?? false;
        string? name = body.OptionalString("name");
        string? topic = body.OptionalString("topic");
        var invites = new List<UserId>();
        if (body.OptionalElement("invite") is { } inviteList)
        {
            if (inviteList.ValueKind != JsonValueKind.Array)
            {
                throw MatrixException.BadJson("'invite' must be an array of user IDs");
            }

            foreach (var item in inviteList.EnumerateArray())
            {
                invites.Add(item.ValueKind == JsonValueKind.String && UserId.TryParse(item.GetString(), out var invitee)
                    ? invitee
                    : throw MatrixException.InvalidParam($"Invalid user ID in 'invite': {item}"));
            }
        }

        var initialState = new List<(string Type, string StateKey, JsonObject Content)>();
        if (body.OptionalElement("initial_state") is { } stateList)
        {
            if (stateList.ValueKind != JsonValueKind.Array)
            {
                throw MatrixException.BadJson("'initial_state' must be an array of state events");
            }

            foreach (var item in stateList.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object)
                {
                    throw MatrixException.BadJson("'initial_state' entries must be objects");
                }

                initialState.Add((item.RequiredString("type"), item.OptionalString("state_key") ?? "", ObjectOrEmpty(item, "content")));
            }
        }

        string? alias = null;
        if (body.OptionalString("room_alias_name") is { } aliasName)
        {
            alias = $"#{aliasName}:{_options.ServerName}";
            if (aliasName.Length == 0 || aliasName.Contains(':', StringComparison.Ordinal) || !RoomAliases.IsValid(alias))
            {
                throw MatrixException.InvalidParam("Invalid characters in room alias");
            }

            if (await _directory.GetAliasAsync(alias, cancellationToken).ConfigureAwait(false) is not null)
            {
                throw new MatrixException(HttpStatusCode.BadRequest, "M_ROOM_IN_USE", "Room alias already taken");
            }
        }

        string roomId = NewRoomId(_options.ServerName);
        string creator = requester.UserId.Value;
        var drafts = new List<EventDraft>();

        if (!version.V11Rules)
        {
            creationContent["creator"] = creator;
        }

        creationContent["room_version"] = version.Identifier;
        drafts.Add(new EventDraft(roomId, "m.room.create", "", creator, creationContent)
        {
            NewRoomVersion = version,
            NewRoomIsPublic = visibility == "public",
        });
        drafts.Add(new EventDraft(roomId, "m.room.member", creator, creator,
            await MemberContentAsync("join", requester.UserId, null, cancellationToken).ConfigureAwait(false)));

        var powerLevels = DefaultPowerLevels(creator, preset, invites);
        if (plOverride is { } overrides)
        {
            foreach (var property in overrides.EnumerateObject())
            {
                powerLevels[property.Name] = JsonNode.Parse(property.Value.GetRawText());
            }
        }

        drafts.Add(State(roomId, "m.room.power_levels", creator, powerLevels));
        if (alias is not null)
        {
            drafts.Add(State(roomId, "m.room.canonical_alias", creator, new JsonObject { ["alias"] = alias }));
        }

        drafts.Add(State(roomId, "m.room.join_rules", creator,
            new JsonObject { ["join_rule"] = preset == "public_chat" ? "public" : "invite" }));
        drafts.Add(State(roomId, "m.room.history_visibility", creator, new JsonObject { ["history_visibility"] = "shared" }));
        drafts.Add(State(roomId, "m.room.guest_access", creator,
            new JsonObject { ["guest_access"] = preset == "public_chat" ? "forbidden" : "can_join" }));
        foreach (var (type, stateKey, content) in initialState)
        {
            drafts.RemoveAll(d => d.Type == type && d.StateKey == stateKey && d.Type is not ("m.room.create" or "m.room.member" or "m.room.power_levels"));
            drafts.Add(new EventDraft(roomId, type, stateKey, creator, content));
        }

        if (name is not null)
        {
            drafts.Add(State(roomId, "m.room.name", creator, new JsonObject { ["name"] = name }));
        }

        if (topic is not null)
        {
            drafts.Add(State(roomId, "m.room.topic", creator, new JsonObject { ["topic"] = topic }));
        }

        foreach (var invitee in invites)
        {
            await EnsureLocalUserAsync(invitee, cancellationToken).ConfigureAwait(false);
            var content = await MemberContentAsync("invite", invitee, null, cancellationToken).ConfigureAwait(false);
            if (isDirect)
            {
                content["is_direct"] = true;
            }

            drafts.Add(new EventDraft(roomId, "m.room.member", invitee.Value, creator, content));
        }

        await _writer.WriteAsync(drafts, cancellationToken).ConfigureAwait(false);
        if (alias is not null)
        {
            await _directory.CreateAliasAsync(alias, roomId, creator, cancellationToken).ConfigureAwait(false);
        }

        return roomId;
    }

    /// <summary>PUT /rooms/{roomId}/send/{eventType}/{txnId}.</summary>
    public async Task<string> SendMessageAsync(Requester requester, string roomId, string eventType, string txnId,
        JsonElement content, CancellationToken cancellationToken)
    {
        ValidateRoomId(roomId);
        ValidateType(eventType);
        var draft = new EventDraft(roomId, eventType, null, requester.UserId.Value, ToObject(content))
        {
            Transaction = new TransactionKey(requester.UserId.Value, requester.DeviceId.Value, txnId),
        };
        var events = await _writer.WriteAsync([draft], cancellationToken).ConfigureAwait(false);

        // Sending is what Synapse counts as being active: the sender shows online with last_active_ago reset.
        await _presence.BumpActiveAsync(requester.UserId, cancellationToken).ConfigureAwait(false);
        return events[0].EventId;
    }

    /// <summary>PUT /rooms/{roomId}/state/{eventType}/{stateKey}.</summary>
    public async Task<string> SendStateAsync(Requester requester, string roomId, string eventType, string stateKey,
        JsonElement content, CancellationToken cancellationToken)
    {
        ValidateRoomId(roomId);
        ValidateType(eventType);
        if (eventType == "m.room.canonical_alias")
        {
            await ValidateCanonicalAliasAsync(roomId, content, cancellationToken).ConfigureAwait(false);
        }

        // Setting a state key to what it already holds, from the same sender, is a no-op (Synapse does the same).
        var current = await _events.GetCurrentStateIdsAsync(roomId, cancellationToken).ConfigureAwait(false);
        if (current.TryGetValue(new TypeStateKey(eventType, stateKey), out string? existingId))
        {
            var existing = await _events.GetEventsAsync([existingId], cancellationToken).ConfigureAwait(false);
            if (existing.Count == 1 && existing[0].Pdu.Sender == requester.UserId.Value && existing[0].RedactedBy is null
                && CanonicalJson.EncodeToString(existing[0].Pdu.Content, strict: false) == CanonicalJson.EncodeToString(content, strict: false))
            {
                return existingId;
            }
        }

        var events = await _writer.WriteAsync(
            [new EventDraft(roomId, eventType, stateKey, requester.UserId.Value, ToObject(content))], cancellationToken)
            .ConfigureAwait(false);
        return events[0].EventId;
    }

    /// <summary>Joins (POST /join/{roomIdOrAlias}, /rooms/{roomId}/join), invites, leaves, kicks, bans, unbans, knocks.</summary>
    public async Task<string> ChangeMembershipAsync(Requester requester, string roomId, string membership, UserId target,
        string? reason, CancellationToken cancellationToken)
    {
        ValidateRoomId(roomId);
        var room = await _events.GetRoomAsync(roomId, cancellationToken).ConfigureAwait(false)
            ?? throw MatrixException.NotFound("Unknown room: this server is not in it and federation is not available");
        if (membership is "invite" or "ban" or "leave" && target != requester.UserId)
        {
            await EnsureLocalUserAsync(target, cancellationToken).ConfigureAwait(false);
        }

        var content = await MemberContentAsync(membership, target, reason, cancellationToken).ConfigureAwait(false);
        if (membership == "join" && await FindJoinAuthoriserAsync(room, requester.UserId.Value, cancellationToken).ConfigureAwait(false) is { } authoriser)
        {
            content["join_authorised_via_users_server"] = authoriser;
        }

        var events = await _writer.WriteAsync(
            [new EventDraft(room.RoomId, "m.room.member", target.Value, requester.UserId.Value, content)], cancellationToken)
            .ConfigureAwait(false);
        if (membership == "join")
        {
            await _directory.SetForgottenAsync(requester.UserId.Value, room.RoomId, false, cancellationToken).ConfigureAwait(false);
        }

        return events[0].EventId;
    }

    /// <summary>POST /rooms/{roomId}/unban: only a banned user can be unbanned.</summary>
    public async Task UnbanAsync(Requester requester, string roomId, UserId target, string? reason, CancellationToken cancellationToken)
    {
        if (await CurrentMembershipAsync(roomId, target.Value, cancellationToken).ConfigureAwait(false) != "ban")
        {
            throw MatrixException.Forbidden($"{target} is not banned from this room");
        }

        await ChangeMembershipAsync(requester, roomId, "leave", target, reason, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>POST /rooms/{roomId}/forget: only once the user has left.</summary>
    public async Task ForgetAsync(Requester requester, string roomId, CancellationToken cancellationToken)
    {
        ValidateRoomId(roomId);
        string? membership = await CurrentMembershipAsync(roomId, requester.UserId.Value, cancellationToken).ConfigureAwait(false);
        if (membership is "join" or "invite" or "knock")
        {
            throw new MatrixException(HttpStatusCode.BadRequest, ErrorCodes.Unknown, "You must leave the room before forgetting it");
        }

        if (membership is null)
        {
            throw MatrixException.NotFound("You were never in this room");
        }

        await _directory.SetForgottenAsync(requester.UserId.Value, roomId, true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>PUT /rooms/{roomId}/redact/{eventId}/{txnId}.</summary>
    public async Task<string> RedactAsync(Requester requester, string roomId, string eventId, string txnId, string? reason,
        CancellationToken cancellationToken)
    {
        ValidateRoomId(roomId);
        var room = await _events.GetRoomAsync(roomId, cancellationToken).ConfigureAwait(false)
            ?? throw MatrixException.NotFound("Unknown room");
        var content = new JsonObject();
        if (reason is not null)
        {
            content["reason"] = reason;
        }

        var version = KnownRoomVersions.Find(room.RoomVersion)!;
        if (version.V11Rules)
        {
            content["redacts"] = eventId;
        }

        var draft = new EventDraft(roomId, "m.room.redaction", null, requester.UserId.Value, content)
        {
            Redacts = eventId,
            Transaction = new TransactionKey(requester.UserId.Value, requester.DeviceId.Value, txnId),
        };
        var events = await _writer.WriteAsync([draft], cancellationToken).ConfigureAwait(false);
        return events[0].EventId;
    }

    /// <summary>Resolves a room ID or a local alias.</summary>
    public async Task<string> ResolveRoomAsync(string roomIdOrAlias, CancellationToken cancellationToken)
    {
        if (roomIdOrAlias.StartsWith('#'))
        {
            if (!RoomAliases.IsValid(roomIdOrAlias))
            {
                throw MatrixException.InvalidParam("Invalid room alias");
            }

            var found = await _directory.GetAliasAsync(roomIdOrAlias, cancellationToken).ConfigureAwait(false);
            return found?.RoomId ?? throw MatrixException.NotFound($"Room alias {roomIdOrAlias} not found");
        }

        ValidateRoomId(roomIdOrAlias);
        return roomIdOrAlias;
    }

    /// <summary>
    /// Restricted rooms (v8+, <c>restricted</c> / <c>knock_restricted</c>): a user who is not invited or joined may
    /// join when they are in one of the rooms the join rule allows; the join then names a local member who may
    /// invite, and our signature on the event vouches for it. Returns null when no authoriser is needed or none
    /// qualifies (the auth rules then give the precise refusal).
    /// </summary>
    /// <remarks>Spec: Client-Server API, "Restricted rooms"; room versions 8+, auth rule for joins.</remarks>
    private async Task<string?> FindJoinAuthoriserAsync(RoomRecord room, string userId, CancellationToken cancellationToken)
    {
        var version = KnownRoomVersions.Find(room.RoomVersion)!;
        if (!version.RestrictedJoinRule)
        {
            return null;
        }

        var ids = await _events.GetCurrentStateIdsAsync(room.RoomId, cancellationToken).ConfigureAwait(false);
        var keys = ids.Where(kv => kv.Key.Type is "m.room.join_rules" or "m.room.power_levels" or "m.room.create"
            || (kv.Key.Type == "m.room.member" && kv.Key.StateKey.EndsWith(":" + _options.ServerName, StringComparison.Ordinal)));
        var state = (await _events.GetEventsAsync(keys.Select(kv => kv.Value).ToList(), cancellationToken).ConfigureAwait(false))
            .ToDictionary(e => new TypeStateKey(e.Pdu.Type, e.Pdu.StateKey!), e => e.Pdu);
        if (!state.TryGetValue(new TypeStateKey("m.room.join_rules", ""), out var joinRules)
            || joinRules.ContentString("join_rule") is not ("restricted" or "knock_restricted")
            || (state.TryGetValue(new TypeStateKey("m.room.member", userId), out var own) && own.ContentString("membership") is "join" or "invite"))
        {
            return null;
        }

        var allowedRooms = joinRules.Content.TryGetProperty("allow", out var allow) && allow.ValueKind == JsonValueKind.Array
            ? allow.EnumerateArray()
                .Where(a => a.ValueKind == JsonValueKind.Object && a.OptionalString("type") == "m.room_membership")
                .Select(a => a.OptionalString("room_id")).OfType<string>().ToList()
            : [];
        var userRooms = await _events.GetRoomsForUserAsync(userId, ["join"], cancellationToken).ConfigureAwait(false);
        if (!allowedRooms.Any(userRooms.Contains))
        {
            return null;
        }

        var levels = PowerLevels.FromState(state, version);
        return state.Values
            .Where(m => m.Type == "m.room.member" && m.ContentString("membership") == "join" && levels.UserLevel(m.StateKey!) >= levels.Invite)
            .OrderByDescending(m => levels.UserLevel(m.StateKey!))
            .ThenBy(m => m.StateKey, StringComparer.Ordinal)
            .Select(m => m.StateKey)
            .FirstOrDefault();
    }

    private async Task<string?> CurrentMembershipAsync(string roomId, string userId, CancellationToken cancellationToken)
    {
        var state = await _events.GetCurrentStateIdsAsync(roomId, cancellationToken).ConfigureAwait(false);
        if (!state.TryGetValue(new TypeStateKey("m.room.member", userId), out string? eventId))
        {
            return null;
        }

        var events = await _events.GetEventsAsync([eventId], cancellationToken).ConfigureAwait(false);
        return events.Count == 1 ? events[0].Pdu.ContentString("membership") : null;
    }

    private async Task ValidateCanonicalAliasAsync(string roomId, JsonElement content, CancellationToken cancellationToken)
    {
        var aliases = new List<string>();
        if (content.OptionalString("alias") is { } alias)
        {
            aliases.Add(alias);
        }

        if (content.OptionalElement("alt_aliases") is { } alt)
        {
            if (alt.ValueKind != JsonValueKind.Array || alt.EnumerateArray().Any(a => a.ValueKind != JsonValueKind.String))
            {
                throw MatrixException.BadJson("'alt_aliases' must be an array of strings");
            }

            aliases.AddRange(alt.EnumerateArray().Select(a => a.GetString()!));
        }

        foreach (string a in aliases)
        {
            if (!RoomAliases.IsValid(a))
            {
                throw new MatrixException(HttpStatusCode.BadRequest, "M_INVALID_PARAM", $"Invalid alias {a}");
            }

            if (a.EndsWith(":" + _options.ServerName, StringComparison.Ordinal)
                && (await _directory.GetAliasAsync(a, cancellationToken).ConfigureAwait(false))?.RoomId != roomId)
            {
                throw new MatrixException(HttpStatusCode.BadRequest, "M_BAD_ALIAS", $"Alias {a} does not point to this room");
            }
        }
    }

    /// <summary>A new room ID: <c>!</c>, 18 random letters, <c>:server_name</c>.</summary>
    internal static string NewRoomId(string serverName) =>
        "!" + RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 18) + ":" + serverName;

    /// <summary>Member event content with the user's profile (for local users joining, invited or knocking).</summary>
    internal async Task<JsonObject> MemberContentAsync(string membership, UserId user, string? reason,
        CancellationToken cancellationToken)
    {
        var content = new JsonObject { ["membership"] = membership };
        if (membership is "join" or "invite" or "knock" && user.ServerName == _options.ServerName
            && await _accounts.GetProfileAsync(user, cancellationToken).ConfigureAwait(false) is { } profile)
        {
            if (profile.DisplayName is not null)
            {
                content["displayname"] = profile.DisplayName;
            }

            if (profile.AvatarUrl is not null)
            {
                content["avatar_url"] = profile.AvatarUrl;
            }
        }

        if (reason is not null)
        {
            content["reason"] = reason;
        }

        return content;
    }

    private async Task EnsureLocalUserAsync(UserId user, CancellationToken cancellationToken)
    {
        if (user.ServerName != _options.ServerName)
        {
            throw MatrixException.Forbidden($"Cannot reach {user}: federation is not available on this server yet");
        }

        if (await _accounts.GetUserAsync(user, cancellationToken).ConfigureAwait(false) is null)
        {
            throw MatrixException.NotFound($"Unknown user {user}");
        }
    }

    private static JsonObject DefaultPowerLevels(string creator, string preset, List<UserId> invites)
    {
        var users = new JsonObject { [creator] = 100 };
        if (preset == "trusted_private_chat")
        {
            foreach (var invitee in invites)
            {
                users[invitee.Value] = 100;
            }
        }

        return new JsonObject
        {
            ["users"] = users,
            ["users_default"] = 0,
            ["events"] = new JsonObject
            {
                ["m.room.name"] = 50,
                ["m.room.power_levels"] = 100,
                ["m.room.history_visibility"] = 100,
                ["m.room.canonical_alias"] = 50,
                ["m.room.avatar"] = 50,
                ["m.room.tombstone"] = 100,
                ["m.room.server_acl"] = 100,
                ["m.room.encryption"] = 100,
            },
            ["events_default"] = 0,
            ["state_default"] = 50,
            ["ban"] = 50,
            ["kick"] = 50,
            ["redact"] = 50,
            ["invite"] = preset == "public_chat" ? 50 : 0,
            ["historical"] = 100,
        };
    }

    private static EventDraft State(string roomId, string type, string sender, JsonObject content) =>
        new(roomId, type, "", sender, content);

    private static JsonObject ObjectOrEmpty(JsonElement body, string name) =>
        body.OptionalElement(name) switch
        {
            null => [],
            { ValueKind: JsonValueKind.Object } value => ToObject(value),
            _ => throw MatrixException.BadJson($"'{name}' must be an object"),
        };

    internal static JsonObject ToObject(JsonElement value) =>
        value.ValueKind == JsonValueKind.Object
            ? JsonNode.Parse(value.GetRawText())!.AsObject()
            : throw MatrixException.BadJson("Event content must be a JSON object");

    internal static void ValidateRoomId(string roomId)
    {
        int colon = roomId.IndexOf(':', StringComparison.Ordinal);
        if (roomId.Length > 255 || !roomId.StartsWith('!') || colon < 2 || !ServerName.TryParse(roomId[(colon + 1)..], out _))
        {
            throw MatrixException.InvalidParam($"Invalid room ID: {roomId}");
        }
    }

    private static void ValidateType(string type)
    {
        if (type.Length == 0 || System.Text.Encoding.UTF8.GetByteCount(type) > 255)
        {
            throw MatrixException.InvalidParam("Event type must be 1-255 bytes");
        }
    }
}

/// <summary>Room alias syntax: <c>#localpart:server_name</c>, at most 255 bytes.</summary>
internal static class RoomAliases
{
    public static bool IsValid(string alias)
    {
        int colon = alias.IndexOf(':', StringComparison.Ordinal);
        return alias.Length is > 3 and <= 255 && alias[0] == '#' && colon > 1
            && !alias.AsSpan(1, colon - 1).ContainsAny(" \t\n\r\0")
            && ServerName.TryParse(alias[(colon + 1)..], out _);
    }
}

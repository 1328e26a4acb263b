using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Auth;
using Synapse.Events;
using Synapse.RoomVersions;

namespace Synapse.Tests.Auth;

/// <summary>
/// Builds PDUs and a room state map for the auth rule tests. Event IDs are fake ("$e1", or "$e1:server" in
/// v1/v2 where IDs carry a domain); nothing is hashed or signed.
/// </summary>
internal sealed class TestRoom(RoomVersion version)
{
    public const string Alice = "@alice:a.test";
    public const string Bob = "@bob:b.test";
    public const string Carol = "@carol:c.test";
    public const string Dave = "@dave:a.test";
    public const string RoomId = "!room:a.test";

    private int _counter;

    public RoomVersion Version { get; } = version;

    public Dictionary<TypeStateKey, Pdu> State { get; } = [];

    public Pdu CreateEvent => State[new TypeStateKey("m.room.create", "")];

    /// <summary>The usual room: Alice created it, joined, has 100; join rule invite.</summary>
    public TestRoom Standard() =>
        Create().Member(Alice, "join").PowerLevels($$$"""{"users": {"{{{Alice}}}": 100}}""").JoinRule("invite");

    /// <summary>Sets an m.room.create by <paramref name="sender"/>; <c>creator</c> is written in every version.</summary>
    public TestRoom Create(string sender = Alice, string? creator = null) =>
        Set(NewCreate(sender, $$$"""{"creator": "{{{creator ?? sender}}}", "room_version": "{{{Version.Identifier}}}"}"""));

    public TestRoom Member(string user, string membership, string? sender = null) =>
        Set(Event("m.room.member", user, sender ?? user, $$$"""{"membership": "{{{membership}}}"}"""));

    public TestRoom JoinRule(string rule) => Set(Event("m.room.join_rules", "", Alice, $$$"""{"join_rule": "{{{rule}}}"}"""));

    public TestRoom PowerLevels(string content) => Set(Event("m.room.power_levels", "", Alice, content));

    public TestRoom Set(Pdu ev)
    {
        State[new TypeStateKey(ev.Type, ev.StateKey!)] = ev;
        return this;
    }

    public TestRoom Remove(string type, string stateKey = "")
    {
        State.Remove(new TypeStateKey(type, stateKey));
        return this;
    }

    /// <summary>An m.room.create with no prev events, not added to the state.</summary>
    public Pdu NewCreate(string sender = Alice, string? content = null, string roomId = RoomId, string[]? prevEvents = null) =>
        Event("m.room.create", "", sender, content ?? $$$"""{"creator": "{{{sender}}}", "room_version": "{{{Version.Identifier}}}"}""",
            prevEvents: prevEvents ?? [], roomId: roomId);

    public Pdu MemberEvent(string target, string membership, string sender, string? extraContent = null) =>
        Event("m.room.member", target, sender,
            extraContent is null ? $$$"""{"membership": "{{{membership}}}"}""" : $$$"""{"membership": "{{{membership}}}", {{{extraContent}}} }""");

    /// <summary>A PDU of this room. Prev events default to one unrelated event so the creator-join rule does not apply.</summary>
    public Pdu Event(
        string type, string? stateKey, string sender, string content = "{}", string[]? prevEvents = null,
        string? redacts = null, string? eventId = null, string roomId = RoomId)
    {
        _counter++;
        eventId ??= Version.HasEventIdInPdu ? $"$e{_counter}:{sender[(sender.IndexOf(':', StringComparison.Ordinal) + 1)..]}" : $"$e{_counter}";
        var references = new JsonArray();
        foreach (string id in prevEvents ?? ["$prev"])
        {
            references.Add(Version.HasEventIdInPdu ? new JsonArray(id, new JsonObject { ["sha256"] = "aGFzaA" }) : JsonValue.Create(id));
        }

        var json = new JsonObject
        {
            ["room_id"] = roomId,
            ["sender"] = sender,
            ["type"] = type,
            ["content"] = JsonNode.Parse(content),
            ["prev_events"] = references,
            ["auth_events"] = new JsonArray(),
            ["depth"] = _counter,
            ["origin_server_ts"] = 1_700_000_000_000 + _counter,
        };
        if (stateKey is not null)
        {
            json["state_key"] = stateKey;
        }

        if (Version.HasEventIdInPdu)
        {
            json["event_id"] = eventId;
        }

        if (redacts is not null)
        {
            json["redacts"] = redacts;
        }

        return Pdu.Create(JsonSerializer.SerializeToElement(json), Version, eventId);
    }
}

/// <summary>A signature verifier that answers as configured and records what it was asked.</summary>
internal sealed class FakeSignatureVerifier(bool valid) : IAuthSignatureVerifier
{
    public List<string> ServersAsked { get; } = [];

    public List<string> PublicKeysSeen { get; } = [];

    public bool IsSignedByServer(Pdu ev, string serverName)
    {
        ServersAsked.Add(serverName);
        return valid;
    }

    public bool VerifyThirdPartyInviteSignature(JsonElement signedBlock, IReadOnlyList<string> publicKeys)
    {
        PublicKeysSeen.AddRange(publicKeys);
        return valid;
    }
}

using System.Text.Json;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.E2e;

/// <summary>Every key backup endpoint answers bad input with the spec's errcode, never a 500, and changes nothing.</summary>
public sealed class KeyBackupBadInputTests
{
    private const string V3 = "/_matrix/client/v3";
    private const string Room = "!room:test.local";
    private const string GoodKey = """{"first_message_index": 0, "forwarded_count": 0, "is_verified": false, "session_data": {}}""";

    [Theory, ClassData(typeof(Engines))]
    public async Task KeyBackupEndpoints_BadInput_AnswerTheSpecsErrcodes(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        await KeyBackupKit.CreateVersionAsync(server, alice, KeyBackupKit.AuthData("k"));
        await KeyBackupKit.PutSessionAsync(server, alice, "1", Room, "s", KeyBackupKit.Key(0, 0, false, "kept"));
        string before = (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version", alice.AccessToken)).Body.GetRawText();

        string algorithm = KeyBackupKit.Algorithm;
        string Key(string first = "0", string forwarded = "0", string verified = "false", string data = "{}") =>
            $$"""{"first_message_index": {{first}}, "forwarded_count": {{forwarded}}, "is_verified": {{verified}}, "session_data": {{data}}}""";
        var cases = new (HttpMethod Method, string Path, string? Body, int Status, string ErrCode)[]
        {
            // POST /room_keys/version
            (HttpMethod.Post, "room_keys/version", "{not json", 400, "M_NOT_JSON"),
            (HttpMethod.Post, "room_keys/version", "", 400, "M_NOT_JSON"),
            (HttpMethod.Post, "room_keys/version", "[1]", 400, "M_BAD_JSON"),
            (HttpMethod.Post, "room_keys/version", "{}", 400, "M_MISSING_PARAM"),
            (HttpMethod.Post, "room_keys/version", $$"""{"algorithm": "{{algorithm}}"}""", 400, "M_MISSING_PARAM"),
            (HttpMethod.Post, "room_keys/version", """{"auth_data": {}}""", 400, "M_MISSING_PARAM"),
            (HttpMethod.Post, "room_keys/version", """{"algorithm": 5, "auth_data": {}}""", 400, "M_BAD_JSON"),
            (HttpMethod.Post, "room_keys/version", $$"""{"algorithm": "{{algorithm}}", "auth_data": "key"}""", 400, "M_BAD_JSON"),
            (HttpMethod.Post, "room_keys/version", $$"""{"algorithm": "{{algorithm}}", "auth_data": [1]}""", 400, "M_BAD_JSON"),
            (HttpMethod.Post, "room_keys/version", """{"algorithm": "", "auth_data": {}}""", 400, "M_INVALID_PARAM"),

            // GET /room_keys/version/{version}
            (HttpMethod.Get, "room_keys/version/abc", null, 404, "M_NOT_FOUND"),
            (HttpMethod.Get, "room_keys/version/7", null, 404, "M_NOT_FOUND"),

            // PUT /room_keys/version/{version}
            (HttpMethod.Put, "room_keys/version/1", "{not json", 400, "M_NOT_JSON"),
            (HttpMethod.Put, "room_keys/version/1", "[]", 400, "M_BAD_JSON"),
            (HttpMethod.Put, "room_keys/version/1", $$"""{"algorithm": "{{algorithm}}"}""", 400, "M_MISSING_PARAM"),
            (HttpMethod.Put, "room_keys/version/1", """{"auth_data": {}}""", 400, "M_MISSING_PARAM"),
            (HttpMethod.Put, "room_keys/version/1", $$"""{"algorithm": "{{algorithm}}", "auth_data": true}""", 400, "M_BAD_JSON"),
            (HttpMethod.Put, "room_keys/version/1", """{"algorithm": ["x"], "auth_data": {}}""", 400, "M_BAD_JSON"),
            (HttpMethod.Put, "room_keys/version/1", Obj(("algorithm", Str(algorithm)), ("auth_data", "{}"), ("version", "1")), 400, "M_BAD_JSON"),
            (HttpMethod.Put, "room_keys/version/1", Obj(("algorithm", Str(algorithm)), ("auth_data", "{}"), ("version", "\"2\"")), 400, "M_INVALID_PARAM"),
            (HttpMethod.Put, "room_keys/version/1", """{"algorithm": "org.example.other", "auth_data": {}}""", 400, "M_INVALID_PARAM"),
            (HttpMethod.Put, "room_keys/version/7", Obj(("algorithm", Str(algorithm)), ("auth_data", "{}")), 404, "M_NOT_FOUND"),
            (HttpMethod.Put, "room_keys/version/abc", Obj(("algorithm", Str(algorithm)), ("auth_data", "{}")), 404, "M_NOT_FOUND"),

            // DELETE /room_keys/version/{version}
            (HttpMethod.Delete, "room_keys/version/7", null, 404, "M_NOT_FOUND"),
            (HttpMethod.Delete, "room_keys/version/abc", null, 404, "M_NOT_FOUND"),

            // PUT /room_keys/keys
            (HttpMethod.Put, "room_keys/keys", """{"rooms": {}}""", 400, "M_MISSING_PARAM"),
            (HttpMethod.Put, "room_keys/keys?version=", """{"rooms": {}}""", 400, "M_MISSING_PARAM"),
            (HttpMethod.Put, "room_keys/keys?version=1", "{not json", 400, "M_NOT_JSON"),
            (HttpMethod.Put, "room_keys/keys?version=1", "", 400, "M_NOT_JSON"),
            (HttpMethod.Put, "room_keys/keys?version=1", "{}", 400, "M_MISSING_PARAM"),
            (HttpMethod.Put, "room_keys/keys?version=1", """{"rooms": []}""", 400, "M_BAD_JSON"),
            (HttpMethod.Put, "room_keys/keys?version=1", Obj(("rooms", Obj((Room, "5")))), 400, "M_BAD_JSON"),
            (HttpMethod.Put, "room_keys/keys?version=1", Obj(("rooms", Obj((Room, "{}")))), 400, "M_MISSING_PARAM"),
            (HttpMethod.Put, "room_keys/keys?version=1", Obj(("rooms", Obj((Room, Obj(("sessions", "[1]")))))), 400, "M_BAD_JSON"),
            (HttpMethod.Put, "room_keys/keys?version=1", Rooms("not-a-room", "s", GoodKey), 400, "M_INVALID_PARAM"),
            (HttpMethod.Put, "room_keys/keys?version=1", Rooms(Room, "", GoodKey), 400, "M_INVALID_PARAM"),
            (HttpMethod.Put, "room_keys/keys?version=1", Rooms(Room, "s", "\"key\""), 400, "M_BAD_JSON"),
            (HttpMethod.Put, "room_keys/keys?version=1", Rooms(Room, "s", Key(first: "\"0\"")), 400, "M_BAD_JSON"),
            (HttpMethod.Put, "room_keys/keys?version=1", Rooms(Room, "s", """{"forwarded_count": 0, "is_verified": true, "session_data": {}}"""), 400, "M_MISSING_PARAM"),

            // PUT /room_keys/keys/{roomId}
            (HttpMethod.Put, $"room_keys/keys/{Room}", """{"sessions": {}}""", 400, "M_MISSING_PARAM"),
            (HttpMethod.Put, $"room_keys/keys/{Room}?version=1", "{not json", 400, "M_NOT_JSON"),
            (HttpMethod.Put, $"room_keys/keys/{Room}?version=1", "{}", 400, "M_MISSING_PARAM"),
            (HttpMethod.Put, $"room_keys/keys/{Room}?version=1", """{"sessions": "s"}""", 400, "M_BAD_JSON"),
            (HttpMethod.Put, $"room_keys/keys/{Room}?version=1", Obj(("sessions", Obj(("s", Key(forwarded: "-1"))))), 400, "M_BAD_JSON"),
            (HttpMethod.Put, $"room_keys/keys/{Room}?version=1", Obj(("sessions", Obj(("s", Key(verified: "1"))))), 400, "M_BAD_JSON"),
            (HttpMethod.Put, "room_keys/keys/not-a-room?version=1", """{"sessions": {}}""", 400, "M_INVALID_PARAM"),

            // PUT /room_keys/keys/{roomId}/{sessionId}
            (HttpMethod.Put, $"room_keys/keys/{Room}/s", GoodKey, 400, "M_MISSING_PARAM"),
            (HttpMethod.Put, $"room_keys/keys/{Room}/s?version=1", "{not json", 400, "M_NOT_JSON"),
            (HttpMethod.Put, $"room_keys/keys/{Room}/s?version=1", "\"key\"", 400, "M_BAD_JSON"),
            (HttpMethod.Put, $"room_keys/keys/{Room}/s?version=1", "{}", 400, "M_MISSING_PARAM"),
            (HttpMethod.Put, $"room_keys/keys/{Room}/s?version=1", """{"first_message_index": 0, "forwarded_count": 0, "is_verified": false}""", 400, "M_MISSING_PARAM"),
            (HttpMethod.Put, $"room_keys/keys/{Room}/s?version=1", """{"first_message_index": 0, "forwarded_count": 0, "session_data": {}}""", 400, "M_MISSING_PARAM"),
            (HttpMethod.Put, $"room_keys/keys/{Room}/s?version=1", Key(first: "1.5"), 400, "M_BAD_JSON"),
            (HttpMethod.Put, $"room_keys/keys/{Room}/s?version=1", Key(first: "-1"), 400, "M_BAD_JSON"),
            (HttpMethod.Put, $"room_keys/keys/{Room}/s?version=1", Key(forwarded: "true"), 400, "M_BAD_JSON"),
            (HttpMethod.Put, $"room_keys/keys/{Room}/s?version=1", Key(verified: "\"yes\""), 400, "M_BAD_JSON"),
            (HttpMethod.Put, $"room_keys/keys/{Room}/s?version=1", Key(data: "\"ciphertext\""), 400, "M_BAD_JSON"),
            (HttpMethod.Put, "room_keys/keys/not-a-room/s?version=1", GoodKey, 400, "M_INVALID_PARAM"),
            (HttpMethod.Put, $"room_keys/keys/{Room}/{new string('s', 256)}?version=1", GoodKey, 400, "M_INVALID_PARAM"),

            // GET and DELETE at every level: the version parameter is required; room IDs are checked.
            (HttpMethod.Get, "room_keys/keys", null, 400, "M_MISSING_PARAM"),
            (HttpMethod.Get, $"room_keys/keys/{Room}", null, 400, "M_MISSING_PARAM"),
            (HttpMethod.Get, $"room_keys/keys/{Room}/s", null, 400, "M_MISSING_PARAM"),
            (HttpMethod.Get, "room_keys/keys/not-a-room?version=1", null, 400, "M_INVALID_PARAM"),
            (HttpMethod.Get, "room_keys/keys/not-a-room/s?version=1", null, 400, "M_INVALID_PARAM"),
            (HttpMethod.Delete, "room_keys/keys", null, 400, "M_MISSING_PARAM"),
            (HttpMethod.Delete, $"room_keys/keys/{Room}", null, 400, "M_MISSING_PARAM"),
            (HttpMethod.Delete, $"room_keys/keys/{Room}/s", null, 400, "M_MISSING_PARAM"),
            (HttpMethod.Delete, "room_keys/keys/not-a-room?version=1", null, 400, "M_INVALID_PARAM"),
            (HttpMethod.Delete, "room_keys/keys/not-a-room/s?version=1", null, 400, "M_INVALID_PARAM"),

            // Routes the spec does not define.
            (HttpMethod.Delete, "room_keys/version", null, 405, "M_UNRECOGNIZED"),
            (HttpMethod.Post, "room_keys/keys?version=1", """{"rooms": {}}""", 405, "M_UNRECOGNIZED"),
        };

        foreach (var c in cases)
        {
            var (status, body) = await server.SendAsync(c.Method, $"{V3}/{c.Path}", alice.AccessToken, c.Body);
            string label = $"{c.Method} {c.Path} {c.Body}";
            Assert.True(c.Status == status, $"{label}: expected {c.Status}, got {status} {body}");
            Assert.True(c.ErrCode == body.GetProperty("errcode").GetString(), $"{label}: got {body}");
            Assert.False(string.IsNullOrEmpty(body.GetProperty("error").GetString()), label);
        }

        // Nothing above changed the backup.
        Assert.Equal(before, (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version", alice.AccessToken)).Body.GetRawText());
        var (keyStatus, key) = await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys/{Room}/s?version=1", alice.AccessToken);
        Assert.Equal(200, keyStatus);
        Assert.Equal("kept", key.GetProperty("session_data").GetProperty("ciphertext").GetString());
    }

    /// <summary>A JSON object from members whose values are JSON text.</summary>
    private static string Obj(params (string Name, string Value)[] members) =>
        "{" + string.Join(", ", members.Select(m => Str(m.Name) + ": " + m.Value)) + "}";

    private static string Str(string value) => JsonSerializer.Serialize(value);

    /// <summary>A <c>PUT /room_keys/keys</c> body holding one session (its key data given as JSON text).</summary>
    private static string Rooms(string roomId, string sessionId, string key) =>
        Obj(("rooms", Obj((roomId, Obj(("sessions", Obj((sessionId, key))))))));

    [Theory, ClassData(typeof(Engines))]
    public async Task KeyBackupEndpoints_WithoutToken_Answer401(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var cases = new (HttpMethod Method, string Path)[]
        {
            (HttpMethod.Post, "room_keys/version"),
            (HttpMethod.Get, "room_keys/version"),
            (HttpMethod.Get, "room_keys/version/1"),
            (HttpMethod.Put, "room_keys/version/1"),
            (HttpMethod.Delete, "room_keys/version/1"),
            (HttpMethod.Get, "room_keys/keys?version=1"),
            (HttpMethod.Put, "room_keys/keys?version=1"),
            (HttpMethod.Delete, "room_keys/keys?version=1"),
            (HttpMethod.Get, $"room_keys/keys/{Room}?version=1"),
            (HttpMethod.Put, $"room_keys/keys/{Room}?version=1"),
            (HttpMethod.Delete, $"room_keys/keys/{Room}?version=1"),
            (HttpMethod.Get, $"room_keys/keys/{Room}/s?version=1"),
            (HttpMethod.Put, $"room_keys/keys/{Room}/s?version=1"),
            (HttpMethod.Delete, $"room_keys/keys/{Room}/s?version=1"),
        };

        foreach (var (method, path) in cases)
        {
            var (status, body) = await server.SendAsync(method, $"{V3}/{path}", null, method == HttpMethod.Get || method == HttpMethod.Delete ? null : "{}");
            Assert.True(status == 401, $"{method} {path}: {status} {body}");
            Assert.Equal("M_MISSING_TOKEN", body.GetProperty("errcode").GetString());
        }
    }
}

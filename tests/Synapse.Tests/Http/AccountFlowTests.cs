using System.Net.Http.Json;
using System.Text.Json;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Http;

/// <summary>The account lifecycle over real HTTP, on each engine.</summary>
public sealed class AccountFlowTests
{
    private const string Password = "correct horse battery";

    private static Dictionary<string, object?> PasswordLogin(string user, string password, string? deviceId = null) => new Dictionary<string, object?>
    {
        ["type"] = "m.login.password",
        ["identifier"] = new { type = "m.id.user", user },
        ["password"] = password,
        ["device_id"] = deviceId,
        ["initial_device_display_name"] = "Laptop",
    };

    [Theory, ClassData(typeof(Engines))]
    public async Task Account_RegisterLoginWhoamiDevicesPasswordLogout_WorksEndToEnd(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);

        // Register: 401 challenge with the dummy flow, then complete it.
        var (status, challenge) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/register",
            body: new { username = "alice", password = Password });
        Assert.Equal(401, status);
        Assert.Equal("m.login.dummy", challenge.GetProperty("flows")[0].GetProperty("stages")[0].GetString());
        Assert.False(string.IsNullOrEmpty(challenge.GetProperty("session").GetString()));

        var phone = await server.RegisterAsync("bob", Password, deviceId: "PHONE");
        Assert.Equal("@bob:test.local", phone.UserId);
        Assert.Equal("PHONE", phone.DeviceId);

        // Login with the m.id.user identifier, and with the legacy top-level "user" field.
        var (loginStatus, login) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/login",
            body: PasswordLogin("bob", Password));
        Assert.Equal(200, loginStatus);
        Assert.Equal("@bob:test.local", login.GetProperty("user_id").GetString());
        string laptopToken = login.GetProperty("access_token").GetString()!;
        string laptopDevice = login.GetProperty("device_id").GetString()!;
        var (legacyStatus, _) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/r0/login",
            body: new { type = "m.login.password", user = "@bob:test.local", password = Password });
        Assert.Equal(200, legacyStatus);

        // whoami, by header and by the deprecated query parameter.
        var (whoStatus, who) = await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/account/whoami", laptopToken);
        Assert.Equal(200, whoStatus);
        Assert.Equal("@bob:test.local", who.GetProperty("user_id").GetString());
        Assert.Equal(laptopDevice, who.GetProperty("device_id").GetString());
        var (queryStatus, _) = await server.SendAsync(HttpMethod.Get,
            "/_matrix/client/v3/account/whoami?access_token=" + Uri.EscapeDataString(phone.AccessToken));
        Assert.Equal(200, queryStatus);

        // Devices: three sessions, rename one, last_seen recorded.
        var (devicesStatus, devices) = await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/devices", laptopToken);
        Assert.Equal(200, devicesStatus);
        var list = devices.GetProperty("devices").EnumerateArray().ToList();
        Assert.Equal(3, list.Count);
        var laptop = list.Single(d => d.GetProperty("device_id").GetString() == laptopDevice);
        Assert.Equal("Laptop", laptop.GetProperty("display_name").GetString());
        Assert.Equal("127.0.0.1", laptop.GetProperty("last_seen_ip").GetString());
        Assert.True(laptop.GetProperty("last_seen_ts").GetInt64() > 0);

        var (putStatus, _) = await server.SendAsync(HttpMethod.Put, "/_matrix/client/v3/devices/PHONE", laptopToken,
            new { display_name = "Old phone" });
        Assert.Equal(200, putStatus);
        var (getStatus, device) = await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/devices/PHONE", laptopToken);
        Assert.Equal(200, getStatus);
        Assert.Equal("Old phone", device.GetProperty("display_name").GetString());

        // Change password from the laptop: UIA with the old password; other devices are logged out.
        var (pwChallengeStatus, pwChallenge) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/account/password",
            laptopToken, new { new_password = "new password" });
        Assert.Equal(401, pwChallengeStatus);
        string session = pwChallenge.GetProperty("session").GetString()!;
        var (wrongStatus, wrong) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/account/password", laptopToken,
            new
            {
                new_password = "new password",
                auth = new { type = "m.login.password", session, identifier = new { type = "m.id.user", user = "bob" }, password = "wrong" },
            });
        Assert.Equal(401, wrongStatus);
        Assert.Equal("M_FORBIDDEN", wrong.GetProperty("errcode").GetString());
        var (pwStatus, _) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/account/password", laptopToken,
            new
            {
                new_password = "new password",
                auth = new { type = "m.login.password", session, identifier = new { type = "m.id.user", user = "bob" }, password = Password },
            });
        Assert.Equal(200, pwStatus);

        var (phoneAfter, phoneError) = await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/account/whoami", phone.AccessToken);
        Assert.Equal(401, phoneAfter);
        Assert.Equal("M_UNKNOWN_TOKEN", phoneError.GetProperty("errcode").GetString());
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/account/whoami", laptopToken)).Status);
        Assert.Equal(403, (await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/login", body: PasswordLogin("bob", Password))).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/login", body: PasswordLogin("bob", "new password"))).Status);

        // Logout: this token and its device are gone.
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/logout", laptopToken)).Status);
        var (afterLogout, afterError) = await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/account/whoami", laptopToken);
        Assert.Equal(401, afterLogout);
        Assert.Equal("M_UNKNOWN_TOKEN", afterError.GetProperty("errcode").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task LoginWithExistingDeviceId_ReusesDevice(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var first = await server.RegisterAsync("carol", Password, deviceId: "KEEP");

        var (_, login) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/login",
            body: PasswordLogin("carol", Password, deviceId: "KEEP"));

        Assert.Equal("KEEP", login.GetProperty("device_id").GetString());
        var (_, devices) = await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/devices", first.AccessToken);
        Assert.Single(devices.GetProperty("devices").EnumerateArray());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task LogoutAll_InvalidatesEveryToken(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var one = await server.RegisterAsync("dave", Password);
        var (_, two) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/login", body: PasswordLogin("dave", Password));

        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/logout/all", one.AccessToken)).Status);

        Assert.Equal(401, (await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/account/whoami", one.AccessToken)).Status);
        Assert.Equal(401, (await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/account/whoami",
            two.GetProperty("access_token").GetString())).Status);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DeleteDevice_WithPasswordUia_RemovesDeviceAndItsToken(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var main = await server.RegisterAsync("erin", Password);
        var (_, other) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/login", body: PasswordLogin("erin", Password));
        string otherDevice = other.GetProperty("device_id").GetString()!;

        var (challengeStatus, challenge) = await server.SendAsync(HttpMethod.Delete, "/_matrix/client/v3/devices/" + otherDevice, main.AccessToken);
        Assert.Equal(401, challengeStatus);
        Assert.Equal("m.login.password", challenge.GetProperty("flows")[0].GetProperty("stages")[0].GetString());

        var (status, _) = await server.SendAsync(HttpMethod.Delete, "/_matrix/client/v3/devices/" + otherDevice, main.AccessToken, new
        {
            auth = new { type = "m.login.password", session = challenge.GetProperty("session").GetString(), user = "erin", password = Password },
        });

        Assert.Equal(200, status);
        Assert.Equal(401, (await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/account/whoami",
            other.GetProperty("access_token").GetString())).Status);
        Assert.Equal(404, (await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/devices/" + otherDevice, main.AccessToken)).Status);

        // delete_devices, with the password stage completed in one request (no prior session).
        var (_, third) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/login", body: PasswordLogin("erin", Password));
        var (bulkStatus, _) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/delete_devices", main.AccessToken, new
        {
            devices = new[] { third.GetProperty("device_id").GetString(), "NO_SUCH_DEVICE" },
            auth = new { type = "m.login.password", identifier = new { type = "m.id.user", user = "@erin:test.local" }, password = Password },
        });
        Assert.Equal(200, bulkStatus);
        Assert.Equal(401, (await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/account/whoami",
            third.GetProperty("access_token").GetString())).Status);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Deactivate_WithPasswordUia_BlocksLoginAndKeepsIdTaken(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var frank = await server.RegisterAsync("frank", Password);

        var (status, body) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/account/deactivate", frank.AccessToken, new
        {
            auth = new { type = "m.login.password", identifier = new { type = "m.id.user", user = "frank" }, password = Password },
        });

        Assert.Equal(200, status);
        Assert.Equal("no-support", body.GetProperty("id_server_unbind_result").GetString());
        Assert.Equal(401, (await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/account/whoami", frank.AccessToken)).Status);
        var (loginStatus, login) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/login", body: PasswordLogin("frank", Password));
        Assert.Equal(403, loginStatus);
        Assert.Equal("M_USER_DEACTIVATED", login.GetProperty("errcode").GetString());
        var (availableStatus, available) = await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/register/available?username=frank");
        Assert.Equal(400, availableStatus);
        Assert.Equal("M_USER_IN_USE", available.GetProperty("errcode").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task RegisterInhibitLogin_ReturnsNoToken_AndAvailabilityReflectsIt(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var (freeStatus, free) = await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/register/available?username=grace");
        Assert.Equal(200, freeStatus);
        Assert.True(free.GetProperty("available").GetBoolean());

        var (status, body) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/register", body: new
        {
            username = "Grace",
            password = Password,
            inhibit_login = true,
            auth = new { type = "m.login.dummy" },
        });

        Assert.Equal(200, status);
        Assert.Equal("@grace:test.local", body.GetProperty("user_id").GetString());
        Assert.False(body.TryGetProperty("access_token", out _));
        Assert.Equal("M_USER_IN_USE",
            (await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/register/available?username=grace")).Body.GetProperty("errcode").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task SharedSecretRegistration_WithSynapseMac_CreatesAdminThatCanLogIn(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var (_, nonceBody) = await server.SendAsync(HttpMethod.Get, "/_synapse/admin/v1/register");
        string nonce = nonceBody.GetProperty("nonce").GetString()!;
        string mac = Synapse.Homeserver.RegisterUserCommand.Mac(TestHomeserver.SharedSecret, nonce, "admin", "pw", true, null);

        var (status, body) = await server.SendAsync(HttpMethod.Post, "/_synapse/admin/v1/register", body: new
        {
            nonce, username = "admin", password = "pw", admin = true, mac,
        });

        Assert.Equal(200, status);
        Assert.Equal("@admin:test.local", body.GetProperty("user_id").GetString());
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/account/whoami",
            body.GetProperty("access_token").GetString())).Status);

        // A nonce is single-use.
        var (replay, replayBody) = await server.SendAsync(HttpMethod.Post, "/_synapse/admin/v1/register", body: new
        {
            nonce, username = "admin2", password = "pw", admin = true, mac,
        });
        Assert.Equal(400, replay);
        Assert.Equal("M_UNKNOWN", replayBody.GetProperty("errcode").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task ConcurrentRegistrations_SameUsername_ExactlyOneSucceeds(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var attempts = Enumerable.Range(0, 6).Select(_ => server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/register", body: new
        {
            username = "race", password = Password, auth = new { type = "m.login.dummy" },
        }));

        var results = await Task.WhenAll(attempts);

        Assert.Single(results, r => r.Status == 200);
        Assert.All(results.Where(r => r.Status != 200), r => Assert.Equal("M_USER_IN_USE", r.Body.GetProperty("errcode").GetString()));
    }

    [Fact]
    public async Task Login_GetFlows_OffersPassword()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite);
        var flows = await server.Client.GetFromJsonAsync<JsonElement>("/_matrix/client/v3/login");
        Assert.Equal("m.login.password", flows.GetProperty("flows")[0].GetProperty("type").GetString());
    }
}

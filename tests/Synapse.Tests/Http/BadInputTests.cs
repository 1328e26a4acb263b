using System.Net.Http.Headers;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Http;

/// <summary>Every kind of bad request gets the spec's error JSON, never a bare status or a 500.</summary>
public sealed class BadInputTests
{
    [Theory, ClassData(typeof(Engines))]
    public async Task Endpoints_BadBodies_AnswerNotJsonOrBadJson(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");

        var cases = new (HttpMethod Method, string Path, string? Token, string Body, int Status, string ErrCode)[]
        {
            (HttpMethod.Post, "/_matrix/client/v3/login", null, "{not json", 400, "M_NOT_JSON"),
            (HttpMethod.Post, "/_matrix/client/v3/login", null, "[1,2]", 400, "M_BAD_JSON"),
            (HttpMethod.Post, "/_matrix/client/v3/login", null, "{\"type\": 5}", 400, "M_BAD_JSON"),
            (HttpMethod.Post, "/_matrix/client/v3/login", null, "{\"type\": \"m.login.password\", \"password\": \"x\"}", 400, "M_MISSING_PARAM"),
            (HttpMethod.Post, "/_matrix/client/v3/login", null, "{\"type\": \"m.login.token\", \"token\": \"x\"}", 400, "M_UNKNOWN"),
            (HttpMethod.Post, "/_matrix/client/v3/login", null, "{\"type\": \"m.login.password\", \"identifier\": {\"type\": \"m.id.user\", \"user\": 1}, \"password\": \"x\"}", 400, "M_MISSING_PARAM"),
            (HttpMethod.Post, "/_matrix/client/v3/register", null, "", 400, "M_NOT_JSON"),
            (HttpMethod.Post, "/_matrix/client/v3/register", null, "{\"username\": [\"a\"]}", 400, "M_BAD_JSON"),
            (HttpMethod.Post, "/_matrix/client/v3/register", null, "{\"inhibit_login\": \"yes\"}", 400, "M_BAD_JSON"),
            (HttpMethod.Post, "/_matrix/client/v3/register", null, "{\"auth\": \"dummy\"}", 400, "M_BAD_JSON"),
            (HttpMethod.Put, "/_matrix/client/v3/devices/" + alice.DeviceId, alice.AccessToken, "{\"display_name\": 3}", 400, "M_BAD_JSON"),
            (HttpMethod.Post, "/_matrix/client/v3/delete_devices", alice.AccessToken, "{\"devices\": \"ABC\"}", 400, "M_BAD_JSON"),
            (HttpMethod.Post, "/_matrix/client/v3/delete_devices", alice.AccessToken, "{}", 400, "M_MISSING_PARAM"),
            (HttpMethod.Post, "/_matrix/client/v3/account/password", alice.AccessToken, "{}", 400, "M_MISSING_PARAM"),
            (HttpMethod.Post, "/_synapse/admin/v1/register", null, "{\"nonce\": \"x\"}", 400, "M_MISSING_PARAM"),
        };

        foreach (var c in cases)
        {
            var (status, body) = await server.SendAsync(c.Method, c.Path, c.Token, c.Body);
            Assert.True(c.Status == status, $"{c.Method} {c.Path} {c.Body}: expected {c.Status}, got {status} {body}");
            Assert.True(c.ErrCode == body.GetProperty("errcode").GetString(), $"{c.Method} {c.Path} {c.Body}: got {body}");
            Assert.False(string.IsNullOrEmpty(body.GetProperty("error").GetString()));
        }
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task AuthenticatedEndpoints_MissingOrUnknownToken_Answer401(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        string[] paths = ["/_matrix/client/v3/account/whoami", "/_matrix/client/v3/devices", "/_matrix/client/v3/capabilities"];

        foreach (string path in paths)
        {
            var (missing, missingBody) = await server.SendAsync(HttpMethod.Get, path);
            Assert.Equal(401, missing);
            Assert.Equal("M_MISSING_TOKEN", missingBody.GetProperty("errcode").GetString());

            var (unknown, unknownBody) = await server.SendAsync(HttpMethod.Get, path, "syt_not_a_token");
            Assert.Equal(401, unknown);
            Assert.Equal("M_UNKNOWN_TOKEN", unknownBody.GetProperty("errcode").GetString());
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, "/_matrix/client/v3/account/whoami");
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", "dXNlcjpwYXNz");
        using var response = await server.Client.SendAsync(request);
        Assert.Equal(401, (int)response.StatusCode);
    }

    [Theory]
    [InlineData("Alice!", "M_INVALID_USERNAME")]
    [InlineData("al ice", "M_INVALID_USERNAME")]
    [InlineData("_bridge", "M_INVALID_USERNAME")]
    [InlineData("12345", "M_INVALID_USERNAME")]
    [InlineData("taken", "M_USER_IN_USE")]
    [InlineData("TAKEN", "M_USER_IN_USE")]
    public async Task Register_BadOrTakenUsername_IsRefused(string username, string errcode)
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite);
        await server.RegisterAsync("taken");

        var (status, body) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/register", body: new
        {
            username, password = "pw", auth = new { type = "m.login.dummy" },
        });
        var (availableStatus, available) = await server.SendAsync(HttpMethod.Get,
            "/_matrix/client/v3/register/available?username=" + Uri.EscapeDataString(username));

        Assert.Equal(400, status);
        Assert.Equal(errcode, body.GetProperty("errcode").GetString());
        Assert.Equal(400, availableStatus);
        Assert.Equal(errcode, available.GetProperty("errcode").GetString());
    }

    [Fact]
    public async Task Register_TooLongUsername_IsInvalid()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite);
        var (status, body) = await server.SendAsync(HttpMethod.Get,
            "/_matrix/client/v3/register/available?username=" + new string('a', 250));
        Assert.Equal(400, status);
        Assert.Equal("M_INVALID_USERNAME", body.GetProperty("errcode").GetString());
    }

    [Fact]
    public async Task Register_WhenDisabled_IsForbidden_AndGuestsToo()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite, o => new HomeserverOptions
        {
            ServerName = o.ServerName, Listeners = o.Listeners, Database = o.Database, SigningKeyPath = o.SigningKeyPath,
            Password = o.Password, RegistrationSharedSecret = o.RegistrationSharedSecret,
            EnableRegistration = false,
        });

        var (status, body) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/register",
            body: new { username = "x", password = "pw", auth = new { type = "m.login.dummy" } });
        var (guestStatus, guest) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/register?kind=guest", body: "{}");
        var (availableStatus, _) = await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/register/available?username=x");

        Assert.Equal(403, status);
        Assert.Equal("M_FORBIDDEN", body.GetProperty("errcode").GetString());
        Assert.Equal(403, guestStatus);
        Assert.Equal("M_GUEST_ACCESS_FORBIDDEN", guest.GetProperty("errcode").GetString());
        Assert.Equal(403, availableStatus);
    }

    [Fact]
    public async Task Guest_WhenAllowed_GetsNumericIdAndCannotChangePassword()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite, o => new HomeserverOptions
        {
            ServerName = o.ServerName, Listeners = o.Listeners, Database = o.Database, SigningKeyPath = o.SigningKeyPath,
            Password = o.Password, RcRegistration = o.RcRegistration, AllowGuestAccess = true,
        });

        var (status, body) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/register?kind=guest", body: "{}");
        Assert.Equal(200, status);
        Assert.Matches("^@[0-9]+:test.local$", body.GetProperty("user_id").GetString());
        string token = body.GetProperty("access_token").GetString()!;

        var (who, whoBody) = await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/account/whoami", token);
        Assert.Equal(200, who);
        Assert.True(whoBody.GetProperty("is_guest").GetBoolean());
        var (pw, pwBody) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/account/password", token, new { new_password = "x" });
        Assert.Equal(403, pw);
        Assert.Equal("M_GUEST_ACCESS_FORBIDDEN", pwBody.GetProperty("errcode").GetString());
    }

    [Fact]
    public async Task Login_OverAddressLimit_Answers429WithRetryAfter()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite, o => new HomeserverOptions
        {
            ServerName = o.ServerName, Listeners = o.Listeners, Database = o.Database, SigningKeyPath = o.SigningKeyPath,
            Password = o.Password,
            RcLogin = new LoginRateLimitOptions
            {
                Address = new RateLimitOptions { PerSecond = 0.01, BurstCount = 2 },
                Account = TestHomeserver.Generous,
                FailedAttempts = TestHomeserver.Generous,
            },
        });
        var login = new { type = "m.login.password", user = "nobody", password = "pw" };

        Assert.Equal(403, (await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/login", body: login)).Status);
        Assert.Equal(403, (await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/login", body: login)).Status);
        var (status, body) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/login", body: login);

        Assert.Equal(429, status);
        Assert.Equal("M_LIMIT_EXCEEDED", body.GetProperty("errcode").GetString());
        Assert.InRange(body.GetProperty("retry_after_ms").GetInt64(), 1, 100_000);
    }

    [Fact]
    public async Task Login_RepeatedFailuresForOneAccount_AreLimited()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite, o => new HomeserverOptions
        {
            ServerName = o.ServerName, Listeners = o.Listeners, Database = o.Database, SigningKeyPath = o.SigningKeyPath,
            Password = o.Password, EnableRegistration = true, EnableRegistrationWithoutVerification = true,
            RcRegistration = TestHomeserver.Generous,
            RcLogin = new LoginRateLimitOptions
            {
                Address = TestHomeserver.Generous,
                Account = TestHomeserver.Generous,
                FailedAttempts = new RateLimitOptions { PerSecond = 0.01, BurstCount = 1 },
            },
        });
        await server.RegisterAsync("victim", "right");
        var wrong = new { type = "m.login.password", user = "victim", password = "wrong" };

        Assert.Equal(403, (await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/login", body: wrong)).Status);
        var (status, body) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/login",
            body: new { type = "m.login.password", user = "victim", password = "right" });

        Assert.Equal(429, status);
        Assert.Equal("M_LIMIT_EXCEEDED", body.GetProperty("errcode").GetString());
    }

    [Fact]
    public async Task UnknownPathAndWrongMethod_AnswerUnrecognized()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite);

        var (notFound, notFoundBody) = await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/no/such/endpoint");
        var (wrongMethod, wrongMethodBody) = await server.SendAsync(HttpMethod.Delete, "/_matrix/client/versions");

        Assert.Equal(404, notFound);
        Assert.Equal("M_UNRECOGNIZED", notFoundBody.GetProperty("errcode").GetString());
        Assert.Equal(405, wrongMethod);
        Assert.Equal("M_UNRECOGNIZED", wrongMethodBody.GetProperty("errcode").GetString());
    }

    [Fact]
    public async Task OversizedBody_Answers413TooLarge()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite);
        string huge = "{\"type\": \"" + new string('x', 10 * 1024 * 1024 + 10) + "\"}";

        var (status, body) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/login", body: huge);

        Assert.Equal(413, status);
        Assert.Equal("M_TOO_LARGE", body.GetProperty("errcode").GetString());
    }

    [Fact]
    public async Task Preflight_AnyMatrixPath_GetsCorsHeaders()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite);
        using var request = new HttpRequestMessage(HttpMethod.Options, "/_matrix/client/v3/login");
        request.Headers.Add("Origin", "https://app.example");
        request.Headers.Add("Access-Control-Request-Method", "POST");

        using var response = await server.Client.SendAsync(request);
        using var error = await server.Client.GetAsync("/_matrix/client/v3/account/whoami");

        Assert.True(response.IsSuccessStatusCode);
        Assert.Equal("*", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Contains("Authorization", response.Headers.GetValues("Access-Control-Allow-Headers").Single(), StringComparison.Ordinal);
        Assert.Equal("*", error.Headers.GetValues("Access-Control-Allow-Origin").Single());
    }

    [Fact]
    public async Task SharedSecretRegistration_WrongMac_IsForbidden()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite);
        var (_, nonceBody) = await server.SendAsync(HttpMethod.Get, "/_synapse/admin/v1/register");

        var (status, body) = await server.SendAsync(HttpMethod.Post, "/_synapse/admin/v1/register", body: new
        {
            nonce = nonceBody.GetProperty("nonce").GetString(), username = "mallory", password = "pw", admin = true,
            mac = new string('0', 40),
        });

        Assert.Equal(403, status);
        Assert.Equal("M_FORBIDDEN", body.GetProperty("errcode").GetString());
    }

    [Fact]
    public async Task UiaSession_ReusedForAnotherOperation_IsForbidden()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite);
        var (_, challenge) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/register", body: new { username = "one", password = "pw" });
        var user = await server.RegisterAsync("two");

        var (status, body) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/account/password", user.AccessToken, new
        {
            new_password = "x",
            auth = new { type = "m.login.password", session = challenge.GetProperty("session").GetString(), user = "two", password = "correct horse battery" },
        });

        Assert.Equal(403, status);
        Assert.Equal("M_FORBIDDEN", body.GetProperty("errcode").GetString());
    }

    [Fact]
    public async Task WellKnown_WithoutPublicBaseUrl_IsNotFound_WithIt_NamesTheServer()
    {
        await using (var plain = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite))
        {
            Assert.Equal(404, (await plain.SendAsync(HttpMethod.Get, "/.well-known/matrix/client")).Status);
        }

        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite, o => new HomeserverOptions
        {
            ServerName = o.ServerName, Listeners = o.Listeners, Database = o.Database, SigningKeyPath = o.SigningKeyPath,
            PublicBaseUrl = new Uri("https://matrix.test.local/"),
        });
        var (status, body) = await server.SendAsync(HttpMethod.Get, "/.well-known/matrix/client");
        Assert.Equal(200, status);
        Assert.Equal("https://matrix.test.local/", body.GetProperty("m.homeserver").GetProperty("base_url").GetString());
    }

    [Fact]
    public async Task Listener_WithoutClientResource_DoesNotServeClientApi()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite, o => new HomeserverOptions
        {
            ServerName = o.ServerName, Database = o.Database, SigningKeyPath = o.SigningKeyPath,
            Listeners = [new ListenerOptions { Port = 0, BindAddresses = ["127.0.0.1"], Type = "http", Resources = new HashSet<string> { "federation" } }],
        });

        var (status, body) = await server.SendAsync(HttpMethod.Get, "/_matrix/client/versions");

        Assert.Equal(404, status);
        Assert.Equal("M_UNRECOGNIZED", body.GetProperty("errcode").GetString());
    }
}

using System.Text.Json;

namespace Synapse.Tests.Hosts;

/// <summary>
/// An application's own worker type (the sample, <c>Synapse.SampleWorker</c>) in a real deployment on PostgreSQL: main is
/// the plain homeserver; the sample runs its worker and a router that knows the type.
/// </summary>
public sealed class CustomWorkerTypeTests : IAsyncLifetime
{
    private const string App = "example.app.room_stats";

    private TestDeployment _deployment = null!;

    public async Task InitializeAsync() => _deployment = await TestDeployment.CreateAsync("custom.test");

    public async Task DisposeAsync() => await _deployment.DisposeAsync();

    [Fact]
    public async Task SampleWorkerBehindSampleRouter_ServesRoomStatsToMembers_RefusesOthersAndWhatItDoesNotServe()
    {
        var d = _deployment;
        d.Start("main", HostProcess.Homeserver, "-c", d.Shared);
        await d.WaitUntilListeningAsync(d.ClientPort);
        d.Start("stats1", HostProcess.SampleWorker, "homeserver", "-c", d.Shared, "-c", d.WorkerFile("stats1", App));
        await d.WaitUntilListeningAsync(d.WorkerPort("stats1"));
        d.Start("router", HostProcess.SampleWorker, "router", "-c", d.Shared, "-a", d.Workers, "--listen", $"http://127.0.0.1:{d.RouterPort}");
        await d.WaitUntilListeningAsync(d.RouterPort);
        var router = d.Client(d.RouterPort);

        string alice = await TestDeployment.RegisterAsync(router, "alice");
        string bob = await TestDeployment.RegisterAsync(router, "bob");
        string carol = await TestDeployment.RegisterAsync(router, "carol");
        var (status, created) = await TestDeployment.SendAsync(router, HttpMethod.Post, "/_matrix/client/v3/createRoom", alice,
            new { preset = "public_chat", name = "statistics" });
        Assert.Equal(200, status);
        string roomId = created.GetProperty("room_id").GetString()!;
        string room = Uri.EscapeDataString(roomId);
        (status, _) = await TestDeployment.SendAsync(router, HttpMethod.Post, $"/_matrix/client/v3/join/{room}", bob, new { });
        Assert.Equal(200, status);

        // The router sends the type's route to the sample worker, which reads the room from the shared database.
        string stats = $"/_example/v1/rooms/{room}/stats";
        (status, var body) = await TestDeployment.SendAsync(router, HttpMethod.Get, stats, bob);
        Assert.True(status == 200, $"{status} {body}\n{d.Output()}");
        Assert.Equal(roomId, body.GetProperty("room_id").GetString());
        Assert.Equal("statistics", body.GetProperty("name").GetString());
        Assert.Equal(2, body.GetProperty("joined_members").GetInt32());
        Assert.True(body.GetProperty("current_state_events").GetInt32() >= 7, body.ToString());
        Assert.Equal("stats1", body.GetProperty("served_by").GetString());

        // Matrix errors as the homeserver answers them.
        AssertError(await TestDeployment.SendAsync(router, HttpMethod.Get, stats, carol), 403, "M_FORBIDDEN");
        AssertError(await TestDeployment.SendAsync(router, HttpMethod.Get, stats, null), 401, "M_MISSING_TOKEN");
        AssertError(await TestDeployment.SendAsync(router, HttpMethod.Get, stats, "not-a-token"), 401, "M_UNKNOWN_TOKEN");
        AssertError(await TestDeployment.SendAsync(router, HttpMethod.Get, "/_example/v1/rooms/%21nowhere%3Acustom.test/stats", bob),
            404, "M_NOT_FOUND");

        // The worker refuses what its type does not serve; main does not serve the type's route.
        var worker = d.Client(d.WorkerPort("stats1"));
        AssertError(await TestDeployment.SendAsync(worker, HttpMethod.Get, "/_matrix/client/v3/sync", bob), 404, "M_UNRECOGNIZED");
        AssertError(await TestDeployment.SendAsync(d.Client(d.ClientPort), HttpMethod.Get, stats, bob), 404, "M_UNRECOGNIZED");
    }

    [Fact]
    public async Task PlainRouter_DeploymentWithTheSampleType_ExitsNamingTheUnknownType()
    {
        var d = _deployment;
        d.WorkerFile("stats1", App);

        var (exitCode, output) = await HostProcess.RunAsync(d.Root,
            ["-c", d.Shared, "-a", d.Workers, "--listen", $"http://127.0.0.1:{d.RouterPort}"], HostProcess.Router, TimeSpan.FromSeconds(60));

        Assert.True(exitCode == 1, output);
        Assert.Contains($"unknown worker type '{App}'", output, StringComparison.Ordinal);
    }

    private static void AssertError((int Status, JsonElement Body) answer, int status, string errcode)
    {
        Assert.True(answer.Status == status && answer.Body.ValueKind == JsonValueKind.Object, $"{answer.Status} {answer.Body}");
        Assert.Equal(errcode, answer.Body.GetProperty("errcode").GetString());
    }
}

using Synapse.Configuration;
using Synapse.Replication.Workers;

namespace Synapse.Tests.Replication;

/// <summary>The worker types' route tables: what each serves (its process refuses the rest; the router reads them).</summary>
public sealed class WorkerTypesTests
{
    private static readonly WorkerTypes Types = new();
    private static readonly HomeserverOptions Deployment = Options(presence: true);

    [Theory]
    [InlineData("synapse.app.synchrotron", "GET", "/_matrix/client/v3/sync", true)]
    [InlineData("synapse.app.synchrotron", "GET", "/_matrix/client/r0/sync", true)]
    [InlineData("synapse.app.synchrotron", "GET", "/_matrix/client/v3/rooms/!r:x/initialSync", true)]
    [InlineData("synapse.app.synchrotron", "POST", "/_matrix/client/v3/createRoom", false)]
    [InlineData("synapse.app.synchrotron", "GET", "/_matrix/client/v3/sync/extra", false)]
    [InlineData("synapse.app.client_reader", "GET", "/_matrix/client/v3/pushrules/", true)]
    [InlineData("synapse.app.client_reader", "PUT", "/_matrix/client/v3/pushrules/global/override/x", false)]
    [InlineData("synapse.app.client_reader", "OPTIONS", "/_matrix/client/v3/pushrules/global/override/x", true)]
    [InlineData("synapse.app.client_reader", "POST", "/_matrix/client/v3/login", true)]
    [InlineData("synapse.app.client_reader", "GET", "/_matrix/client/versions", true)]
    [InlineData("synapse.app.client_reader", "GET", "/_matrix/client/v3/rooms/!r:x/messages", true)]
    [InlineData("synapse.app.event_creator", "PUT", "/_matrix/client/v3/rooms/!r:x/send/m.room.message/t1", true)]
    [InlineData("synapse.app.event_creator", "POST", "/_matrix/client/v3/rooms/!r:x/join", true)]
    [InlineData("synapse.app.event_creator", "POST", "/_matrix/client/v3/join/#a:x", true)]
    [InlineData("synapse.app.event_creator", "GET", "/_matrix/client/v3/sync", false)]
    [InlineData("synapse.app.generic_worker", "GET", "/_matrix/client/v3/sync", true)]
    [InlineData("synapse.app.generic_worker", "PUT", "/_matrix/client/v3/rooms/!r:x/typing/@a:x", false)]
    [InlineData("synapse.app.generic_worker", "POST", "/_matrix/client/v3/keys/upload", false)]
    [InlineData("synapse.app.frontend_proxy", "POST", "/_matrix/client/v3/keys/upload", true)]
    [InlineData("synapse.app.frontend_proxy", "POST", "/_matrix/client/r0/keys/upload/DEVICE", true)]
    [InlineData("synapse.app.frontend_proxy", "POST", "/_matrix/client/v3/keys/query", false)]
    [InlineData("synapse.app.frontend_proxy", "PUT", "/_matrix/client/v3/presence/@a:x/status", false)]
    [InlineData("synapse.app.user_dir", "POST", "/_matrix/client/v3/user_directory/search", true)]
    [InlineData("synapse.app.user_dir", "GET", "/_matrix/client/v3/user_directory/search", false)]
    [InlineData("synapse.app.generic_worker", "POST", "/_matrix/client/v3/user_directory/search", false)]
    public void Serves_TheDocumentedEndpointsOnly(string app, string method, string path, bool served) =>
        Assert.Equal(served, Types.Find(app)!.Serves(method, path, Deployment));

    [Fact]
    public void FrontendProxy_ServesPresence_OnlyWhenPresenceIsOff()
    {
        var proxy = Types.Find("synapse.app.frontend_proxy")!;
        Assert.False(proxy.Serves("PUT", "/_matrix/client/v3/presence/@a:x/status", Options(presence: true)));
        Assert.True(proxy.Serves("PUT", "/_matrix/client/v3/presence/@a:x/status", Options(presence: false)));
        Assert.True(proxy.Serves("GET", "/_matrix/client/v3/presence/@a:x/status", Options(presence: false)));
    }

    [Fact]
    public void UserDir_OneInstance_AndOnlyWhenMainLeavesTheDirectoryToIt()
    {
        var userDir = Types.Find("synapse.app.user_dir")!;
        Assert.True(userDir.Singleton);
        Assert.Contains("update_user_directory: false", userDir.CheckConfiguration!(Options(presence: true)), StringComparison.Ordinal);
        var mainLeavesIt = new HomeserverOptions
        {
            ServerName = "example.org", Listeners = [], Database = new DatabaseOptions { Engine = DatabaseEngine.Postgres },
            SigningKeyPath = "signing.key", UpdateUserDirectory = false,
        };
        Assert.Null(userDir.CheckConfiguration!(mainLeavesIt));
    }

    [Fact]
    public void FrontendProxy_WithoutMainsUri_IsAConfigurationError()
    {
        var proxy = Types.Find("synapse.app.frontend_proxy")!;
        Assert.Contains("worker_main_http_uri", proxy.CheckConfiguration!(Options(presence: true)), StringComparison.Ordinal);
        var withUri = Options(presence: true, mainUri: new Uri("http://127.0.0.1:8008"));
        Assert.Null(proxy.CheckConfiguration!(withUri));
    }

    [Fact]
    public void Affinity_SyncByUser_MessagesByRoom_RegistrationOnOneInstance()
    {
        Assert.Equal(RouteAffinity.User, Types.Find("synapse.app.synchrotron")!.RouteFor("GET", "/_matrix/client/v3/sync", Deployment)!.Affinity);
        var reader = Types.Find("synapse.app.client_reader")!;
        Assert.Equal(RouteAffinity.Room, reader.RouteFor("GET", "/_matrix/client/v3/rooms/!r:x/messages", Deployment)!.Affinity);
        Assert.Equal(RouteAffinity.OneInstance, reader.RouteFor("POST", "/_matrix/client/v3/register", Deployment)!.Affinity);
    }

    [Fact]
    public void Register_AnApplicationsOwnType_IsFound_ButNamesAreUnique()
    {
        var types = new WorkerTypes();
        var mine = new WorkerType
        {
            App = "example.app.room_stats",
            Description = "an embedder's worker",
            Routes = [new WorkerRoute("^/_example/room_stats$", ["GET"])],
        };

        types.Register(mine);

        Assert.Same(mine, types.Find("example.app.room_stats"));
        Assert.True(mine.Serves("GET", "/_example/room_stats", Deployment));
        Assert.Throws<ArgumentException>(() => types.Register(mine));
        Assert.Throws<ArgumentException>(() => types.Register(new WorkerType { App = WorkerOptions.MainApp, Description = "", Routes = [] }));
    }

    private static HomeserverOptions Options(bool presence, Uri? mainUri = null) => new()
    {
        ServerName = "example.org",
        Listeners = [],
        Database = new DatabaseOptions { Engine = DatabaseEngine.Postgres },
        SigningKeyPath = "signing.key",
        PresenceEnabled = presence,
        Worker = new WorkerOptions
        {
            App = "synapse.app.frontend_proxy", Name = "proxy1", ReplicationHost = "127.0.0.1", ReplicationPort = 9092,
            ReplicationHttpPort = 9093, MainHttpUri = mainUri,
        },
    };
}

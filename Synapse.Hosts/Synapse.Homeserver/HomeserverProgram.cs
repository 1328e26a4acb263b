namespace Synapse.Homeserver;

/// <summary>
/// The homeserver's command line for an application that embeds it: register your worker types
/// (<c>WorkerTypes.Default.Register</c>), then call <see cref="RunAsync"/> with the arguments the homeserver takes
/// (<c>-c homeserver.yaml -c workers/NAME.yaml</c>, <c>--daemonize</c>, <c>--generate-config</c>, <c>register-user</c>).
/// A <c>worker_app</c> is looked up among the registered types.
/// </summary>
public static class HomeserverProgram
{
    /// <summary>Runs the homeserver (main or a worker) as <c>Synapse.Homeserver ARGS</c> does; returns the exit code.</summary>
    public static Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        return HomeserverCommand.RunAsync(args, Console.Out, Console.Error);
    }
}

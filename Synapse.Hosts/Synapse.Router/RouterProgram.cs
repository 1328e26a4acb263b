namespace Synapse.Router;

/// <summary>
/// The router's command line for an application that embeds it: register your worker types
/// (<c>WorkerTypes.Default.Register</c>) — the router builds its table from the registered types, so a deployment with a
/// type of yours needs a router that knows it — then call <see cref="RunAsync"/>.
/// </summary>
public static class RouterProgram
{
    /// <summary>Runs the router as <c>Synapse.Router ARGS</c> does (<c>-c FILE -a DIR --listen URL</c>); returns the exit code.</summary>
    public static Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        return RouterCommand.RunAsync(args, Console.Out, Console.Error);
    }
}

using Synapse.Homeserver;
using Synapse.Replication.Workers;
using Synapse.Router;
using Synapse.SampleWorker;

// Register the type before anything starts: the homeserver resolves worker_app, and the router builds its table, from
// WorkerTypes.Default. Every process of the deployment that must know the type runs this program.
WorkerTypes.Default.Register(RoomStatsWorker.Type);

return args switch
{
    ["router", .. var rest] => await RouterProgram.RunAsync(rest).ConfigureAwait(false),
    ["homeserver", .. var rest] => await HomeserverProgram.RunAsync(rest).ConfigureAwait(false),

    // Without a command, the homeserver: synctl (--homeserver PATH) and --daemonize start it with its own arguments only.
    _ => await HomeserverProgram.RunAsync(args).ConfigureAwait(false),
};

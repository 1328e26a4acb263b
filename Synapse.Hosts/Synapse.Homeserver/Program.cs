using Synapse.Homeserver;

return await HomeserverProgram.RunAsync(args).ConfigureAwait(false);

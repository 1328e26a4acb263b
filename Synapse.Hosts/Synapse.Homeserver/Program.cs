using Synapse.Homeserver;

return await HomeserverCommand.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);

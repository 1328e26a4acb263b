using Synapse.Router;

return await RouterCommand.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);

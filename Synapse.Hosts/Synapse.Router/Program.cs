using Synapse.Router;

return await RouterProgram.RunAsync(args).ConfigureAwait(false);

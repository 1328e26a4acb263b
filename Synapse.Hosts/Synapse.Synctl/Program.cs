using Synapse.Synctl;

return await SynctlCommand.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);

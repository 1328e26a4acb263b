using Microsoft.Extensions.Logging;

namespace Synapse.Storage;

internal static partial class StorageLog
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Applied schema migration {Name} (version {Version})")]
    public static partial void MigrationApplied(ILogger logger, string name, int version);
}

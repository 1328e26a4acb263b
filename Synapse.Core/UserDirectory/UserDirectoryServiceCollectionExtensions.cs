using Microsoft.Extensions.DependencyInjection;

namespace Synapse.UserDirectory;

/// <summary>Registration of the user directory's updater.</summary>
public static class UserDirectoryServiceCollectionExtensions
{
    /// <summary>
    /// Adds the hosted service that keeps the user directory up to date from the events stream and the users table
    /// (docs/user-directory.md). Register it in exactly one process of a deployment: <c>AddSynapseHomeserver</c> does so on
    /// main unless <c>update_user_directory</c> is false, in which case the <c>synapse.app.user_dir</c> worker must. The
    /// search itself is served by every process. Needs <c>AddSynapseHomeserver</c> and storage.
    /// </summary>
    public static IServiceCollection AddSynapseUserDirectoryUpdater(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddHostedService<UserDirectoryUpdater>();
        return services;
    }
}

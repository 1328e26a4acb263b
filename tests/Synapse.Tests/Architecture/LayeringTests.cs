using System.Reflection;
using Synapse.Configuration;

namespace Synapse.Tests.Architecture;

/// <summary>DESIGN.md §1 and STYLE.md: dependencies run Hosts → (Storage, Replication) → Core.</summary>
public sealed class LayeringTests
{
    private static readonly Assembly Core = typeof(HomeserverOptions).Assembly;

    [Fact]
    public void Core_ReferencesNoDatabaseDriverOrOtherSynapseLibrary()
    {
        var references = Core.GetReferencedAssemblies().Select(a => a.Name!).ToList();

        Assert.DoesNotContain(references, r => r.StartsWith("Npgsql", StringComparison.Ordinal));
        Assert.DoesNotContain(references, r => r.StartsWith("Microsoft.Data.Sqlite", StringComparison.Ordinal));
        Assert.DoesNotContain(references, r => r is "Synapse.Storage" or "Synapse.Replication" or "Synapse.Homeserver");
    }

    [Fact]
    public void Replication_DoesNotReferenceStorage()
    {
        // The host references Replication, so the build copies it beside the tests.
        var assembly = Assembly.LoadFrom(Path.Combine(AppContext.BaseDirectory, "Synapse.Replication.dll"));

        Assert.DoesNotContain(assembly.GetReferencedAssemblies(), a => a.Name == "Synapse.Storage");
    }

    [Fact]
    public void CoreTypes_OutsideHttp_DoNotUseAspNetCoreTypes()
    {
        var offenders = new List<string>();
        foreach (var type in Core.GetTypes().Where(t => t.Namespace is not null && !t.Namespace.StartsWith("Synapse.Http", StringComparison.Ordinal)))
        {
            const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            var used = type.GetFields(all).Select(f => f.FieldType)
                .Concat(type.GetProperties(all).Select(p => p.PropertyType))
                .Concat(type.GetMethods(all).SelectMany(m => m.GetParameters().Select(p => p.ParameterType).Append(m.ReturnType)))
                .Concat(type.GetConstructors(all).SelectMany(c => c.GetParameters().Select(p => p.ParameterType)))
                .Append(type.BaseType);
            foreach (var t in used)
            {
                if (t?.Namespace?.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal) == true)
                {
                    offenders.Add($"{type.FullName} uses {t.FullName}");
                }
            }
        }

        Assert.Empty(offenders);
    }
}

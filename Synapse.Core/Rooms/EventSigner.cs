using System.Text.Json.Nodes;
using Synapse.Configuration;
using Synapse.Crypto;
using Synapse.Events;
using Synapse.Identifiers;
using Synapse.RoomVersions;

namespace Synapse.Rooms;

/// <summary>Hashes and signs new events with the server's key (the first key of <c>signing_key_path</c>).</summary>
internal sealed class EventSigner : IDisposable
{
    private readonly ServerName _serverName;

    public EventSigner(HomeserverOptions options)
    {
        _serverName = ServerName.Parse(options.ServerName);
        Key = SigningKey.Load(options.SigningKeyPath);
    }

    /// <summary>The active signing key.</summary>
    public SigningKey Key { get; }

    /// <summary>Adds hashes and the signature and computes the event ID for the room version.</summary>
    public Pdu Finalize(JsonObject json, RoomVersion version) => EventHashing.CreateSignedPdu(json, version, _serverName, Key);

    public void Dispose() => Key.Dispose();
}

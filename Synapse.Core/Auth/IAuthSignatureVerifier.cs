using System.Text.Json;
using Synapse.Events;

namespace Synapse.Auth;

/// <summary>
/// The two signature checks inside the authorisation rules. They need public keys (a server's signing keys, an
/// identity server's keys from the room state), so the federation layer supplies them; everything else in the
/// rules is decided from the state alone.
/// </summary>
/// <remarks>Spec: Room Versions, authorisation rules for <c>m.room.member</c> (v8+ rule 4.2; invite rule 1.7).</remarks>
public interface IAuthSignatureVerifier
{
    /// <summary>
    /// Room versions 8 and later: whether <paramref name="ev"/> carries a valid signature from
    /// <paramref name="serverName"/>, the server of the user in <c>content.join_authorised_via_users_server</c>.
    /// </summary>
    bool IsSignedByServer(Pdu ev, string serverName);

    /// <summary>
    /// Whether any signature in <paramref name="signedBlock"/> (the <c>content.third_party_invite.signed</c> object of
    /// an invite, with its <c>signatures</c>) verifies as ed25519 under any of <paramref name="publicKeys"/>
    /// (unpadded base64, from the <c>m.room.third_party_invite</c> event's <c>public_key</c> and
    /// <c>public_keys[].public_key</c>). The signed bytes are the canonical JSON of <paramref name="signedBlock"/>
    /// without <c>signatures</c> and <c>unsigned</c>.
    /// </summary>
    bool VerifyThirdPartyInviteSignature(JsonElement signedBlock, IReadOnlyList<string> publicKeys);
}

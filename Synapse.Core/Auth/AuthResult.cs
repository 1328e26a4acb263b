namespace Synapse.Auth;

/// <summary>
/// The outcome of checking an event against the authorisation rules. <see cref="Reason"/> names the rule that
/// decided: for a rejection it is shown to clients as the <c>M_FORBIDDEN</c> message, so it says what was
/// missing (e.g. "sender's power level 0 is below the 50 needed to send m.room.name").
/// </summary>
/// <param name="Allowed">Whether the event is authorised.</param>
/// <param name="Reason">A short, human-readable explanation of the deciding rule.</param>
public readonly record struct AuthResult(bool Allowed, string Reason)
{
    /// <summary>An allowing result.</summary>
    public static AuthResult Allow(string reason) => new(true, reason);

    /// <summary>A rejecting result.</summary>
    public static AuthResult Deny(string reason) => new(false, reason);

    /// <inheritdoc />
    public override string ToString() => (Allowed ? "allowed: " : "rejected: ") + Reason;
}

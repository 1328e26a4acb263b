namespace Synapse.Streams;

/// <summary>The named streams (DESIGN.md §2). Their positions make up the sync token.</summary>
public static class StreamNames
{
#pragma warning disable CS1591 // The names are the streams.
    public const string Events = "events";
    public const string Backfill = "backfill";
    public const string Typing = "typing";
    public const string Receipts = "receipts";
    public const string Presence = "presence";
    public const string AccountData = "account_data";
    public const string ToDevice = "to_device";
    public const string DeviceLists = "device_lists";
    public const string PushRules = "push_rules";
    public const string Caches = "caches";
#pragma warning restore CS1591
}

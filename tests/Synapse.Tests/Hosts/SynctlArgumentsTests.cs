using Synapse.Synctl;

namespace Synapse.Tests.Hosts;

/// <summary>synctl's command line: Synapse's forms, and exit code 2 with the usage for anything else.</summary>
public sealed class SynctlArgumentsTests
{
    [Theory]
    [InlineData("start", "Start", "homeserver.yaml", null, null)]
    [InlineData("stop conf/hs.yaml", "Stop", "conf/hs.yaml", null, null)]
    [InlineData("restart hs.yaml -a workers", "Restart", "hs.yaml", "workers", null)]
    [InlineData("-a workers start hs.yaml", "Start", "hs.yaml", "workers", null)]
    [InlineData("start --all-processes=workers", "Start", "homeserver.yaml", "workers", null)]
    [InlineData("restart -w workers/s1.yaml", "Restart", "homeserver.yaml", null, "workers/s1.yaml")]
    [InlineData("stop hs.yaml --worker workers/s1.yaml", "Stop", "hs.yaml", null, "workers/s1.yaml")]
    public void Parse_SynapseForms(string line, string action, string config, string? all, string? worker)
    {
        var parsed = SynctlArguments.Parse(line.Split(' '));

        Assert.Equal(new SynctlArguments(Enum.Parse<SynctlAction>(action), config, all, worker, null), parsed);
    }

    [Fact]
    public void Parse_Homeserver_IsKept() =>
        Assert.Equal("/opt/hs", SynctlArguments.Parse(["start", "--homeserver", "/opt/hs"]).Homeserver);

    [Theory]
    [InlineData("")]
    [InlineData("launch")]
    [InlineData("start a.yaml b.yaml")]
    [InlineData("start -a")]
    [InlineData("start -x")]
    [InlineData("start -a d1 -a d2")]
    [InlineData("start -a dir -w file")]
    [InlineData("start --all-processes=")]
    public void Parse_BadArguments_Throw(string line) =>
        Assert.Throws<ArgumentException>(() => SynctlArguments.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)));

    [Fact]
    public async Task Synctl_BadArguments_ExitTwoWithTheUsage()
    {
        string directory = Directory.CreateTempSubdirectory("synapse-synctl-args-").FullName;
        try
        {
            var unknown = await HostProcess.RunAsync(directory, ["launch"], HostProcess.Synctl);
            Assert.Equal(2, unknown.ExitCode);
            Assert.Contains("unknown command 'launch'", unknown.Output, StringComparison.Ordinal);
            Assert.Contains("Usage:", unknown.Output, StringComparison.Ordinal);

            var none = await HostProcess.RunAsync(directory, [], HostProcess.Synctl);
            Assert.Equal(2, none.ExitCode);

            var help = await HostProcess.RunAsync(directory, ["--help"], HostProcess.Synctl);
            Assert.Equal(0, help.ExitCode);
            Assert.Contains("synctl start|stop|restart", help.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Synctl_NoConfigFile_ExitsOneNamingIt()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int code = await SynctlCommand.RunAsync(["start", "/nonexistent/homeserver.yaml"], stdout, stderr);

        Assert.Equal(1, code);
        Assert.Contains("/nonexistent/homeserver.yaml", stderr.ToString(), StringComparison.Ordinal);
    }
}

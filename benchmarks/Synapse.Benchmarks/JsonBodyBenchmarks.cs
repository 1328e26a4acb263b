using System.Text;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using Synapse.Http;

namespace Synapse.Benchmarks;

/// <summary>Reading and validating a request body, as every POST/PUT endpoint does.</summary>
[MemoryDiagnoser]
public class JsonBodyBenchmarks
{
    private byte[] _login = null!;
    private byte[] _large = null!;

    [GlobalSetup]
    public void Setup()
    {
        _login = Encoding.UTF8.GetBytes(
            """{"type":"m.login.password","identifier":{"type":"m.id.user","user":"alice"},"password":"correct horse battery","initial_device_display_name":"Element Desktop"}""");
        var large = new StringBuilder("{\"one_time_keys\":{");
        for (int i = 0; i < 100; i++)
        {
            large.Append(i == 0 ? "" : ",").Append("\"signed_curve25519:AAAA").Append(i).Append("\":{\"key\":\"")
                .Append(new string('k', 43)).Append("\",\"signatures\":{\"@alice:example.org\":{\"ed25519:DEV\":\"")
                .Append(new string('s', 86)).Append("\"}}}");
        }

        _large = Encoding.UTF8.GetBytes(large.Append("}}").ToString());
    }

    [Benchmark(Description = "login body (180 B)")]
    public Task<System.Text.Json.JsonElement> LoginBody() => Read(_login);

    [Benchmark(Description = "100 one-time keys (17 KB)")]
    public Task<System.Text.Json.JsonElement> KeysBody() => Read(_large);

    private static Task<System.Text.Json.JsonElement> Read(byte[] body)
    {
        var context = new DefaultHttpContext();
        context.Request.Body = new MemoryStream(body, writable: false);
        context.Request.ContentLength = body.Length;
        return context.ReadJsonObjectAsync();
    }
}

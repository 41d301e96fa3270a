using Fleet.Functions.Loading;

namespace Fleet.Functions.Tests;

/// <summary>Lambda's error document for a .NET exception: cause and causes, bounded however the exceptions nest.</summary>
public sealed class FunctionErrorDocumentTests
{
    private static int Count(FunctionErrorDocument? document)
        => document is null ? 0 : 1 + Count(document.Cause) + (document.Causes?.Sum(Count) ?? 0);

    [Fact]
    public void Nested_aggregates_stay_within_the_document_budget()
    {
        // Each level's first inner exception is both its cause and causes[0], and here each level lists the one below
        // twice: unbounded, the document would have 3^10 (59,049) parts at the depth limit.
        Exception e = new InvalidOperationException("root");
        for (var level = 0; level < 12; level++) e = new AggregateException(e, e);

        var document = FunctionErrorDocument.Of(e);

        Assert.Equal("AggregateException", document.ErrorType);
        Assert.InRange(Count(document), 2, 1 + FunctionErrorDocument.MaxDocuments);
        Assert.NotNull(document.Cause);
        Assert.NotEmpty(document.Causes!);
    }

    [Fact]
    public void An_aggregate_of_two_is_its_first_as_cause_and_both_as_causes()
    {
        var document = FunctionErrorDocument.Of(new AggregateException(new IOException("disk full"), new TimeoutException("slow")));

        Assert.Equal("IOException", document.Cause!.ErrorType);
        Assert.Equal(["IOException", "TimeoutException"], document.Causes!.Select(c => c.ErrorType).ToArray());
        Assert.Equal(["disk full", "slow"], document.Causes!.Select(c => c.ErrorMessage).ToArray());
    }
}

using Fleet.Grains.Functions;

namespace Fleet.Grains.Tests;

/// <summary>Lambda's forms of a <c>FunctionName</c>: the name, the function ARN and the partial ARN, each optionally qualified.</summary>
public sealed class FunctionNamesTests
{
    [Theory]
    [InlineData("my-function", "my-function", null)]
    [InlineData("my-function:v1", "my-function", "v1")]
    [InlineData("my-function:$LATEST", "my-function", "$LATEST")]
    [InlineData("arn:aws:lambda:us-west-2:123456789012:function:my-function", "my-function", null)]
    [InlineData("arn:aws:lambda:us-west-2:123456789012:function:my-function:3", "my-function", "3")]
    [InlineData("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:my_function:live", "my_function", "live")]
    [InlineData("123456789012:function:my-function", "my-function", null)]
    [InlineData("123456789012:function:my-function:v1", "my-function", "v1")]
    [InlineData("123456789012:function:my-function:$LATEST", "my-function", "$LATEST")]
    public void Every_form_Lambda_documents_names_the_function_and_its_qualifier(string value, string name, string? qualifier)
    {
        Assert.Equal((name, qualifier), FunctionNames.Parse(value, "FunctionName"));
        Assert.Equal(qualifier is null ? name : $"{name}:{qualifier}", FunctionNames.Normalize(value, "FunctionName"));
    }

    [Theory]
    [InlineData("12345:function:my-function", "is not a partial function ARN")] // the account is 12 digits
    [InlineData("1234567890123:function:my-function", "is not a partial function ARN")]
    [InlineData("123456789012:func:my-function", "is not a function name or ARN")]
    [InlineData("123456789012:function:", "does not name a function")]
    [InlineData("123456789012:function:my-function:v1:extra", "is not a function name or ARN")]
    [InlineData("123456789012:function:my-function:bad!q", "has an invalid qualifier")]
    [InlineData("us-west-2:123456789012:function:my-function", "is not a partial function ARN")]
    [InlineData("arn:aws:lambda:us-west-2:123456789012:layer:x:1", "is not a Lambda function ARN")]
    [InlineData("arn:aws:sqs:us-west-2:123456789012:queue", "is not a Lambda function ARN")]
    [InlineData("arn:aws:lambda:nowhere:123456789012:function:x", "is not a Lambda function ARN")]
    [InlineData("not a name", "does not name a function")]
    [InlineData(":live", "does not name a function")]
    [InlineData("fn:1:2", "is not a function name or ARN")]
    [InlineData("fn:bad!q", "has an invalid qualifier")]
    public void A_malformed_name_is_refused_with_the_field_and_the_reason(string value, string reason)
    {
        var refused = Assert.Throws<FunctionValidationException>(() => FunctionNames.Parse(value, "FunctionName"));
        Assert.Contains(reason, refused.Message);
        Assert.StartsWith($"FunctionName '{value}'", refused.Message);
    }

    [Theory]
    [InlineData("123456789012:function:dest", "dest")]
    [InlineData("123456789012:function:dest:live", "dest:live")]
    [InlineData("arn:aws:lambda:us-east-1:123456789012:function:dest:2", "dest:2")]
    [InlineData("dest", "dest")]
    public void A_destination_takes_the_partial_arn_too(string destination, string function)
        => Assert.Equal(function, EventDestinations.ParseFunction(destination, "DestinationConfig.OnFailure.Destination"));
}

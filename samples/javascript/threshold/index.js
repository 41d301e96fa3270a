'use strict';

// A JavaScript function (CommonJS, Lambda's Node.js model). Handler: index.handler
// Raises an alert when a metric of a reading crosses THRESHOLD (an environment variable).
const { formatAlert, round } = require('./lib/format');

const threshold = Number(process.env.THRESHOLD ?? '30');
const metric = process.env.METRIC ?? 'temperature';

// Module scope runs once per execution environment (the cold start); it stays while the environment is warm.
let invocations = 0;

exports.handler = async (event, context) => {
  invocations += 1;
  const value = event && event.metrics ? event.metrics[metric] : undefined;
  if (typeof value !== 'number') {
    console.log('no %s in this reading', metric);
    return { functionName: context.functionName, requestId: context.awsRequestId, metric, alert: false, reason: 'missing', invocations };
  }

  const alert = value > threshold;
  const message = formatAlert(event.sensorId ?? 'unknown', metric, value, threshold);
  console.log(message);
  return {
    functionName: context.functionName,
    requestId: context.awsRequestId,
    sensorId: event.sensorId ?? null,
    metric,
    value: round(value, 2),
    threshold,
    alert,
    message,
    invocations,
  };
};

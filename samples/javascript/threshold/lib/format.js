'use strict';

// A helper module of the package, loaded with a relative require('./lib/format').

function round(value, digits) {
  const f = Math.pow(10, digits);
  return Math.round(value * f) / f;
}

function formatAlert(sensorId, metric, value, threshold) {
  const relation = value > threshold ? 'above' : 'within';
  return `${sensorId}: ${metric} ${round(value, 2)} is ${relation} the threshold ${threshold}`;
}

module.exports = { formatAlert, round };

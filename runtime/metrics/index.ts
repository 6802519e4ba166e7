export {
  renderPrometheusText,
  escapeLabelValue,
  escapeHelp,
  formatValue,
  isValidMetricName,
  isValidLabelName,
  MetricsFormatError,
  PROMETHEUS_CONTENT_TYPE,
  type MetricSample,
  type MetricType,
} from './prometheus.js';
export { pushMetrics, pushgatewayPath, groupingSegment, type PushConfig } from './push.js';

import type { operations, components } from "./schema.gen";

type Schemas = components["schemas"];
export type Proxy = Schemas["ProxyRead"];
export type ProxyCreate = Schemas["ProxyCreate"];
export type ProxyUpdate = Schemas["ProxyUpdate"];
export type Provider = Schemas["ProviderInfo"];
export type FailureConfig = Schemas["FailureConfig"];
export type ErrorFault = Schemas["ErrorFault"];
export type User = Schemas["UserRead"];
export type Health = Schemas["Health"];
export type AuthConfig = Schemas["AuthConfig"];
export type GlobalSettings = Schemas["ServerSettings"];
export type Registration = GlobalSettings["registration"];
export type LogQuery = NonNullable<operations["list_logs_api_logs_get"]["parameters"]["query"]>;
export type ProxyStatus = "stopped" | "starting" | "running" | "error";
export type SocialProvider = "google" | "github";

export type { CacheStatus, LogPage, LogRow, Metrics, MetricsPoint, MetricsSummary, MetricsWindow } from "./refined";

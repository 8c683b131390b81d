// The route table: longest-prefix match over IPv4 and IPv6.
export { RouteTable, MAX_ROUTE_VALUE } from './route-table';
export type { BulkReport, CidrList, RouteMatch, RouteValues } from './route-table';

//! DescribeCluster: the cluster id, the controller and the live brokers;
//! what admin tools and web UIs ask first. Brokers answer for the broker endpoint type only,
//! as in Kafka (controllers have their own endpoint).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::authorized;
use crate::shard::Shard;

/// KIP-919's endpoint types.
const BROKERS: i8 = 1;

pub fn handle(shard: &Shard, r: DescribeClusterRequest, version: i16) -> DescribeClusterResponse {
    let response = DescribeClusterResponse::default();
    let response = if version >= 1 {
        response.with_endpoint_type(BROKERS)
    } else {
        response
    };
    if version >= 1 && r.endpoint_type != BROKERS {
        return response
            .with_error_code(ResponseError::MismatchedEndpointType.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "this is a broker endpoint: ask it for brokers (endpoint type 1)",
            )));
    }
    let brokers = shard
        .broker_addresses()
        .into_iter()
        .map(|(id, a)| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(id))
                .with_host(StrBytes::from_string(a.host))
                .with_port(a.port)
                .with_rack(a.rack.map(StrBytes::from_string))
        })
        .collect();
    response
        .with_cluster_id(StrBytes::from_string(shard.identity.cluster_id.clone()))
        .with_controller_id(BrokerId(shard.controller_id()))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(authorized::cluster(
            r.include_cluster_authorized_operations,
        ))
}

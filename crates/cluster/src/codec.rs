//! The lake's events table on the wire: the files of the client's snapshot, rebuilt into the
//! same table by the scheduler.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{
    AggregateUDF, Extension, HigherOrderUDF, LogicalPlan, ScalarUDF, WindowUDF,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::{Deserialize, Serialize};
use trawl_query::{CloudTrailTable, DataFile};

use crate::builtins;
use crate::options::{LakeOptions, Stores};

/// Where the nodes of a cluster find the lake's files: the store registered there reads the
/// lake `trawl.location` names.
pub(crate) const LAKE_URL: &str = "trawl://lake/";

/// Ballista's logical codec, plus the lake's events table ([`CloudTrailTable`]): it travels
/// as its files, and the scheduler rebuilds it over the lake's store.
#[derive(Debug, Default)]
pub struct LakeCodec {
    ballista: BallistaLogicalExtensionCodec,
    stores: Arc<Stores>,
}

impl LakeCodec {
    pub(crate) fn with_stores(stores: Arc<Stores>) -> Self {
        Self {
            ballista: BallistaLogicalExtensionCodec::default(),
            stores,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Payload {
    files: Vec<DataFile>,
}

impl LogicalExtensionCodec for LakeCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        _schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        let payload: Payload = serde_json::from_slice(buf).map_err(|e| {
            DataFusionError::Internal(format!(
                "table {table_ref} came from a client of another trawl version ({e}): run the same trawl on the client, the scheduler and the executors"
            ))
        })?;
        let config = ctx.session_config();
        let lake = config
            .options()
            .extensions
            .get::<LakeOptions>()
            .cloned()
            .unwrap_or_default();
        let store = self.stores.of(&lake)?;
        let url = url::Url::parse(LAKE_URL).expect("a valid url");
        // No statistics cache: a scheduler's sessions may share one across lakes, and it is
        // keyed by the path within the store, which two lakes may both have.
        let table = CloudTrailTable::over(
            &url,
            store,
            Arc::new(payload.files),
            &ctx.runtime_env(),
            false,
            // A node reads no needle filters: the lake's directory is not its own.
            None,
        )?;
        Ok(Arc::new(table))
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let Some(table) = node.downcast_ref::<CloudTrailTable>() else {
            return self
                .ballista
                .try_encode_table_provider(table_ref, node, buf)
                .map_err(|_| {
                    DataFusionError::NotImplemented(format!(
                        "the cluster reads the lake's tables only, and this statement reads {table_ref}: run it without --cluster"
                    ))
                });
        };
        let payload = Payload {
            files: table.files().to_vec(),
        };
        serde_json::to_writer(buf, &payload).map_err(|e| DataFusionError::External(Box::new(e)))
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.ballista.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        builtins::decode_udf(name, buf, || self.ballista.try_decode_udf(name, buf))
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        builtins::encode_udf(node, buf, |b| self.ballista.try_encode_udf(node, b))
    }

    fn try_decode_higher_order_function(
        &self,
        name: &str,
        buf: &[u8],
    ) -> Result<Arc<HigherOrderUDF>> {
        self.ballista.try_decode_higher_order_function(name, buf)
    }

    fn try_encode_higher_order_function(
        &self,
        node: &HigherOrderUDF,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        self.ballista.try_encode_higher_order_function(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        builtins::decode_udaf(name, buf, || self.ballista.try_decode_udaf(name, buf))
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        builtins::encode_udaf(node, buf, |b| self.ballista.try_encode_udaf(node, b))
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.ballista.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode_udwf(node, buf)
    }
}

/// Ballista's physical codec, with DataFusion's functions that trawl replaces under the same
/// name marked (see [`builtins`]).
#[derive(Debug, Default)]
pub struct PlanCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for PlanCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.ballista.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        self.ballista.try_encode(node, buf, proto_converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        builtins::decode_udf(name, buf, || self.ballista.try_decode_udf(name, buf))
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        builtins::encode_udf(node, buf, |b| self.ballista.try_encode_udf(node, b))
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        builtins::decode_udaf(name, buf, || self.ballista.try_decode_udaf(name, buf))
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        builtins::encode_udaf(node, buf, |b| self.ballista.try_encode_udaf(node, b))
    }
}

//! Trino's `IPADDRESS`: `CAST(x AS IPADDRESS)`, `TRY_CAST`, `IPADDRESS '10.0.0.1'` literals,
//! comparisons, `CAST(ip AS VARCHAR)` and CIDR tests `contains('10.0.0.0/8', ip)`.
//!
//! An address is 16 bytes (`FixedSizeBinary(16)`), IPv4 as IPv4-mapped IPv6 as in Trino, so
//! `=`, `<` and `ORDER BY` compare addresses, not text. The parsed statement is rewritten
//! before planning: `CAST(x AS IPADDRESS)` becomes `ipaddress(x)` (`try_ipaddress` for
//! `TRY_CAST`), the literal becomes `ipaddress('...')`, and a cast of one of those to a string
//! becomes `ipaddress_text(...)`; `contains(cidr, ip)` on an address is `cidr_contains`.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, FixedSizeBinaryArray, FixedSizeBinaryBuilder,
    StringArray,
};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

use super::utf8_arg;

/// The type of an address.
pub(crate) const IP_TYPE: DataType = DataType::FixedSizeBinary(16);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Parse { fail: bool },
    Text,
    CidrContains,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct IpFn {
    kind: Kind,
    name: &'static str,
    signature: Signature,
}

pub(super) fn functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    let any = |n| Signature::one_of(vec![TypeSignature::Any(n)], Volatility::Immutable);
    [
        (Kind::Parse { fail: true }, "ipaddress", any(1)),
        (Kind::Parse { fail: false }, "try_ipaddress", any(1)),
        (Kind::Text, "ipaddress_text", any(1)),
        (Kind::CidrContains, "cidr_contains", any(2)),
    ]
    .into_iter()
    .map(|(kind, name, signature)| {
        Arc::new(IpFn {
            kind,
            name,
            signature,
        }) as Arc<dyn ScalarUDFImpl>
    })
    .collect()
}

/// `cidr_contains(cidr, address)`, for the `contains` rewrite.
pub(super) fn cidr_contains() -> datafusion::logical_expr::ScalarUDF {
    datafusion::logical_expr::ScalarUDF::new_from_impl(IpFn {
        kind: Kind::CidrContains,
        name: "cidr_contains",
        signature: Signature::one_of(vec![TypeSignature::Any(2)], Volatility::Immutable),
    })
}

fn octets(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn text(bytes: &[u8]) -> String {
    let v6 = Ipv6Addr::from(<[u8; 16]>::try_from(bytes).expect("16 bytes"));
    match v6.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => v6.to_string(),
    }
}

fn addresses(arg: &ColumnarValue, rows: usize, name: &str) -> Result<ArrayRef> {
    let a = arg.to_array(rows)?;
    if a.data_type() != &IP_TYPE {
        return exec_err!(
            "{name}: expected an IPADDRESS, got {}; write CAST(x AS IPADDRESS)",
            a.data_type()
        );
    }
    Ok(a)
}

impl ScalarUDFImpl for IpFn {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::Parse { .. } => IP_TYPE,
            Kind::Text => DataType::Utf8,
            Kind::CidrContains => DataType::Boolean,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let out: ArrayRef = match self.kind {
            Kind::Parse { fail } => {
                let input = utf8_arg(&args.args[0], rows)?;
                let input = input.as_string::<i32>();
                let mut b = FixedSizeBinaryBuilder::with_capacity(rows, 16);
                for v in input.iter() {
                    match v.map(|s| s.trim().parse::<IpAddr>()) {
                        None => b.append_null(),
                        Some(Ok(ip)) => b.append_value(octets(ip))?,
                        Some(Err(_)) if !fail => b.append_null(),
                        Some(Err(_)) => {
                            return exec_err!(
                                "Cannot cast value to IPADDRESS: {:?}; use TRY_CAST to get NULL instead",
                                v.unwrap_or_default()
                            );
                        }
                    }
                }
                Arc::new(b.finish())
            }
            Kind::Text => {
                let a = addresses(&args.args[0], rows, self.name)?;
                let a: &FixedSizeBinaryArray = a.as_fixed_size_binary();
                let out: StringArray = a.iter().map(|v| v.map(text)).collect();
                Arc::new(out)
            }
            Kind::CidrContains => {
                let cidrs = utf8_arg(&args.args[0], rows)?;
                let cidrs = cidrs.as_string::<i32>();
                let ips = addresses(&args.args[1], rows, "contains")?;
                let ips: &FixedSizeBinaryArray = ips.as_fixed_size_binary();
                let mut out = Vec::with_capacity(rows);
                let mut last: Option<(String, ipnet::IpNet)> = None;
                for i in 0..rows {
                    if cidrs.is_null(i) || ips.is_null(i) {
                        out.push(None);
                        continue;
                    }
                    let c = cidrs.value(i);
                    let net = match &last {
                        Some((text, net)) if text == c => *net,
                        _ => match c.trim().parse::<ipnet::IpNet>() {
                            Ok(net) => {
                                last = Some((c.to_string(), net));
                                net
                            }
                            Err(_) => {
                                return exec_err!(
                                    "contains: {c:?} is not a CIDR network (like '10.0.0.0/8' or '2001:db8::/32')"
                                );
                            }
                        },
                    };
                    let v6 = Ipv6Addr::from(<[u8; 16]>::try_from(ips.value(i)).expect("16 bytes"));
                    let ip = match (net, v6.to_ipv4_mapped()) {
                        (ipnet::IpNet::V4(_), Some(v4)) => IpAddr::V4(v4),
                        _ => IpAddr::V6(v6),
                    };
                    out.push(Some(net.contains(&ip)));
                }
                Arc::new(BooleanArray::from(out))
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_print_as_trino_prints_them() {
        for (input, want) in [
            ("10.0.0.1", "10.0.0.1"),
            ("::ffff:1.2.3.4", "1.2.3.4"),
            ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ] {
            assert_eq!(text(&octets(input.parse().unwrap())), want);
        }
    }
}

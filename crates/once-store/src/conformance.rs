//! placeholder
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {};
}

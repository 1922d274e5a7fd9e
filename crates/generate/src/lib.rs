//! The *generate* stage: retail events shaped exactly as the original demo's contract
//! (`docs/contract.md`), produced by a seeded, allocation-light generator.

mod bad;
mod catalogue;
mod contract;
mod event;
mod generator;

pub use bad::{BadKind, BadMessage};
pub use catalogue::{Catalogue, Locale, Product, CATEGORY_COUNT, PRODUCT_COUNT, WAREHOUSE_COUNT};
pub use contract::{check_message, MAX_MESSAGE_BYTES};
pub use event::{
    Cents, DiscountPercent, Event, EventTime, MovementType, SaleEvent, StockMovementEvent, Topic,
};
pub use generator::{Generator, GeneratorConfig, Message};

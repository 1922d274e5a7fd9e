//! The *generate* stage: retail events shaped exactly as the original demo's contract
//! (`shared/seed/CONTRACT.md`), produced by a seeded, allocation-light generator.

mod catalogue;
mod event;
mod generator;

pub use catalogue::{Catalogue, Locale, Product, CATEGORY_COUNT, PRODUCT_COUNT, WAREHOUSE_COUNT};
pub use event::{
    Cents, DiscountPercent, Event, EventTime, MovementType, SaleEvent, StockMovementEvent,
};
pub use generator::{Generator, GeneratorConfig};

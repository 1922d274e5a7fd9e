pub mod audit;
pub mod bench;
pub mod dead_letters;
pub mod doctor;
pub mod generate;
pub mod schema;
pub mod serve;
pub mod up;

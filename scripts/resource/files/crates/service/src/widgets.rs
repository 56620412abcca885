//! The widgets resource: each has a name; it is created, read, listed,
//! renamed and deleted, and each change is recorded as an outbox event.

mod events;
mod model;
mod name;
mod ports;
mod service;

pub use self::events::{WIDGET_CREATED, WIDGET_DELETED, WIDGET_UPDATED};
pub use self::model::{EmptyPatch, NewWidget, Widget, WidgetId, WidgetPatch};
pub use self::name::WidgetName;
pub use self::ports::{WidgetStore, WidgetTransaction};
pub use self::service::{Created, WidgetError, WidgetService};

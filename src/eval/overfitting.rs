//! Statistics of backtest overfitting.

module onestop/bench/loadgen

go 1.22

// Reduction of the last RI (inner) dims of a strided view, for every index of its RO outer dims.
// ${MODE} "workgroup": one workgroup per output, a tree in shared memory; "thread": one thread
// per output walking the reduced elements (small reductions).
// Uniforms: ReduceParams (reduce.py: reduce_params).
${COMMON}
${BINDINGS}
${PARAMS}
${LOADER}

var<workgroup> red: array<${ACC}, ${WG}>;

fn combine(a: ${ACC}, b: ${ACC}) -> ${ACC} { ${COMBINE} }

fn base_of(o: u32) -> i32 {
${OUTER}
}

fn elem_at(base: i32, j: u32) -> ${ACC} {
${INNER}
}

fn finish(acc: ${ACC}) -> ${OUT_T} { ${FINISH} }

${MAIN}

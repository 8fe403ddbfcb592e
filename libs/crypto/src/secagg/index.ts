export * from './secagg.constants';
export * from './secagg.params';
export * from './secagg.messages';
export * from './secagg.masking';
export * from './secagg.site';
export * from './secagg.server';

export * from './ct';
export * from './backend';
export * from './models';
export * from './noise';
export * from './train';
export * from './profile';
